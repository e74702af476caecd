//! `Hover\CliInvocation`: one artisan command to run, and the way to answer it.

use ext_php_rs::binary::Binary;
use ext_php_rs::flags::ClassFlags;
use ext_php_rs::prelude::*;
use hover_core::runtime::{Command, Runtime};

use crate::context::PhpContext;

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

    /// Appends bytes to the command's output, which the response carries base64-encoded.
    pub fn write(&self, output: Binary<u8>) {
        self.runtime.capture_output(&output);
    }

    /// Sends `{"exit_code": …, "output": …}` and logs the output. Throws if this invocation
    /// was answered already.
    pub fn finish(&self, exit_code: i64) -> PhpResult<()> {
        if self
            .runtime
            .finish_command(&self.command.context.request_id, exit_code)
        {
            Ok(())
        } else {
            Err(format!(
                "invocation {} was answered already",
                self.command.context.request_id
            )
            .into())
        }
    }
}
