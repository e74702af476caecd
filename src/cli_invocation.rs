//! `Hover\CliInvocation`: one artisan command to run, and the fork it runs in.

use std::panic::{catch_unwind, AssertUnwindSafe};

use ext_php_rs::flags::ClassFlags;
use ext_php_rs::prelude::*;
use hover_core::cli::{self, Command, Side};
use hover_core::error_response::{ErrorResponse, ErrorType};
use hover_core::invocation::Answer;
use hover_core::runtime::Runtime;

use crate::context::PhpContext;
use crate::panic_message;

#[php_class]
#[php(name = "Hover\\CliInvocation")]
#[php(flags = ClassFlags::Final)]
pub struct PhpCliInvocation {
    runtime: &'static Runtime,
    command: Command,
}

impl PhpCliInvocation {
    pub(crate) fn new(runtime: &'static Runtime, command: Command) -> Self {
        Self { runtime, command }
    }
}

#[php_impl]
impl PhpCliInvocation {
    /// The artisan command line, e.g. `migrate --force`.
    pub fn command(&self) -> String {
        self.command.line.clone()
    }

    pub fn context(&self) -> PhpContext {
        PhpContext::new(self.command.context.clone())
    }

    /// Forks the process to run the command. Returns true in the child, which runs the
    /// command and exits with its status, its stdout and stderr captured; returns false in
    /// the runtime once the invocation has been answered (with the child's exit status and
    /// output, or an error if it ran past the stop point). Throws if the invocation was
    /// answered already: a command runs once.
    pub fn fork(&self) -> PhpResult<bool> {
        let invocations = self.runtime.invocations();
        let request_id = &self.command.context.request_id;
        if cli::spare::runs_here(request_id) {
            // The process forked ahead of this command, which it was handed.
            return Ok(true);
        }
        if invocations.elapsed(request_id).is_none() {
            return Err(format!("invocation {request_id} was answered already").into());
        }
        let ran = catch_unwind(AssertUnwindSafe(|| cli::run(invocations, &self.command)));
        match ran {
            Ok(side) => Ok(side == Side::Command),
            Err(panic) => {
                // Last resort: the invocation still gets its answer, and the loop goes on.
                let error = ErrorResponse::new(
                    ErrorType::InternalError,
                    format!(
                        "the runtime failed while running the command: {}",
                        panic_message(&*panic)
                    ),
                );
                invocations.finish(request_id, Answer::Error(error));
                Ok(false)
            }
        }
    }
}
