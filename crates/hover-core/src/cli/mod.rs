//! The CLI function type: `{"command": "migrate --force"}` in, as Hover's tooling and
//! EventBridge rules send it, and `{"exit_code": 0, "output": "<base64>"}` out.
//!
//! Each command runs in a child forked from the booted application ([`run`]): the child
//! starts with Laravel booted, runs the command as `php artisan` would, and exits; the
//! runtime reads everything it writes to stdout and stderr, streams it to the log line by
//! line, and answers with the exit status and the output. Nothing the command does (its
//! environment, configuration, ini settings, signal handlers, shutdown functions, open
//! files, children) outlives it: the fresh-process isolation of `php artisan`, without the
//! boot.

pub mod event;
pub mod output;
pub mod spare;

use std::time::{Duration, Instant};

use crate::context::Context;
use crate::error_response::{ErrorResponse, ErrorType};
use crate::invocation::{Answer, Answers, Finish, Invocations, RuntimeApi};
use crate::log::{Level, LogFormat};
use crate::process::{self, Ended, Forked};
use crate::runtime_api::RuntimeApiError;
pub use event::{MAX_COMMAND_LINE, parse_event, quoted, response};
use output::{CommandOutput, OutputLines};

/// How much of the output so far a timeout's message quotes.
const QUOTED_OUTPUT: usize = 2 * 1024;

/// A CLI invocation in flight.
#[derive(Debug, Clone)]
pub struct Command {
    pub line: String,
    pub context: Context,
    /// When the command is stopped, to leave time for an answer.
    pub stop_at: Instant,
}

/// The CLI function's answers when a command does not finish by itself.
struct CommandAnswers {
    quoted_line: String,
    /// The end of the output so far, for the timeout's message.
    last_output: Vec<u8>,
}

impl Answers for CommandAnswers {
    fn abandoned(&mut self, exit_status: i64) -> Answer {
        Answer::Error(ErrorResponse::new(
            ErrorType::RuntimeExited,
            format!(
                "the runtime's PHP process ended with status {exit_status} before {} ran; it restarts",
                self.quoted_line
            ),
        ))
    }

    fn timed_out(&mut self, elapsed: Duration) -> Answer {
        let mut message = format!(
            "{} was still running after {} ms, close to the invocation's deadline; it was stopped with the processes it started",
            self.quoted_line,
            elapsed.as_millis()
        );
        if !self.last_output.is_empty() {
            message.push_str("; its last output: ");
            message.push_str(&String::from_utf8_lossy(&self.last_output));
        }
        Answer::Error(ErrorResponse::new(ErrorType::CommandTimeout, message))
    }
}

/// Waits for the next CLI invocation and puts it in flight; malformed events are answered
/// with an error meanwhile. Before it waits, it makes sure a spare process, forked from
/// the runtime as it is now, waits for the command: then the fork is not on the way of the
/// answer. In that spare, it returns the command it was handed.
pub fn next_command<A: RuntimeApi>(
    invocations: &Invocations<A>,
) -> Result<Command, RuntimeApiError> {
    if let Some(command) = spare::prepare(invocations.log()) {
        return Ok(command);
    }
    loop {
        let invocation = invocations.next()?;
        let context = invocation.context;
        match parse_event(&invocation.payload) {
            Ok(line) => {
                let answers = CommandAnswers {
                    quoted_line: quoted(&line),
                    last_output: Vec::new(),
                };
                let started = invocations.begin(context.clone(), Box::new(answers));
                spare::hand(&line, &context);
                return Ok(Command {
                    line,
                    context,
                    stop_at: started.stop_at,
                });
            }
            Err(error) => invocations.refuse(&context.request_id, error),
        }
    }
}

/// Stops what commands left running outside their groups: every child of the runtime but
/// its spare.
fn stop_what_commands_left() {
    process::stop_orphans(spare::pid().as_slice());
}

/// The complete lines of one read of a command's output, written to the log together, a
/// record each (one system call for many short lines).
#[derive(Default)]
struct LogBatch {
    lines: Vec<String>,
}

impl LogBatch {
    fn push(&mut self, line: &[u8]) {
        if !line.iter().all(u8::is_ascii_whitespace) {
            self.lines.push(String::from_utf8_lossy(line).into_owned());
        }
    }

    fn write(&mut self, log: LogFormat, request_id: &str) {
        log.write_all(
            Level::Info,
            Some(request_id),
            self.lines.iter().map(String::as_str),
        );
        self.lines.clear();
    }
}

/// Forks the command's process now (when no spare was ready), if this process runs one
/// thread.
fn fork_now(line: &str) -> Result<Forked, String> {
    match process::thread_count() {
        Ok(1) => {}
        Ok(count) => {
            return Err(format!(
                "{} was not run: the runtime runs {count} threads ({}) and forks only when it runs one; a PHP extension started the others",
                quoted(line),
                process::thread_names().join(", ")
            ));
        }
        Err(error) => return Err(format!("cannot count the runtime's threads: {error}")),
    }
    process::fork_command()
        .map_err(|error| format!("cannot fork a process for {}: {error}", quoted(line)))
}

/// Which process returns from [`run`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    /// The command's process: run the command, then exit with its status.
    Command,
    /// The runtime, once the invocation has been answered.
    Runtime,
}

/// Runs `command` in a fork of this process. In the child, returns [`Side::Command`] at
/// once. In the runtime, supervises the child until it exits or the stop point comes,
/// answers the invocation, and returns [`Side::Runtime`].
pub fn run<A: RuntimeApi>(invocations: &Invocations<A>, command: &Command) -> Side {
    let request_id = &command.context.request_id;
    let log = invocations.log();
    let fail = |message: String| {
        invocations.finish(
            request_id,
            Answer::Error(ErrorResponse::new(ErrorType::CommandFailed, message)),
        );
    };
    let mut child = match spare::take_handed(request_id) {
        Some(child) => child,
        None => match fork_now(&command.line) {
            Ok(Forked::Child) => return Side::Command,
            Ok(Forked::Parent(child)) => child,
            Err(message) => {
                fail(message);
                return Side::Runtime;
            }
        },
    };
    let mut output = CommandOutput::default();
    let mut lines = OutputLines::default();
    let mut batch = LogBatch::default();
    let ended = child.supervise(command.stop_at, |bytes| {
        output.push(bytes);
        lines.feed(bytes, |line| batch.push(line));
        batch.write(log, request_id);
    });
    lines.finish(|line| batch.push(line));
    batch.write(log, request_id);
    match ended {
        Ok(Ended::Stopped) => {
            let last = output.last(QUOTED_OUTPUT);
            invocations.update(request_id, |answers: &mut CommandAnswers| {
                answers.last_output = last;
            });
            invocations.stop(request_id, false);
        }
        Ok(ended) => answer_exit(invocations, command, ended, output),
        Err(error) => fail(format!(
            "lost track of the process running {}: {error}",
            quoted(&command.line)
        )),
    }
    // Answered: now what is left of the process (the kernel may still be tearing it
    // down) is killed, and so is what it started outside its group.
    drop(child);
    stop_what_commands_left();
    Side::Runtime
}

/// Answers a command that ended by itself with its status and output, and logs both.
fn answer_exit<A: RuntimeApi>(
    invocations: &Invocations<A>,
    command: &Command,
    ended: Ended,
    output: CommandOutput,
) {
    let request_id = &command.context.request_id;
    let log = invocations.log();
    let status = ended.shell_status().unwrap_or(255);
    let elapsed = invocations.elapsed(request_id).unwrap_or_default();
    log.write(
        Level::Info,
        Some(request_id),
        &format!(
            "{} exited with {status} in {:.1} ms",
            quoted(&command.line),
            elapsed.as_secs_f64() * 1000.0
        ),
    );
    if output.truncated() {
        log.write(
            Level::Warn,
            Some(request_id),
            &format!(
                "{} wrote {} bytes of output; the response carries its first and last parts, at most {} bytes",
                quoted(&command.line),
                output.total_len(),
                output::MAX_OUTPUT
            ),
        );
    }
    let body = response(i64::from(status), &output.into_response_bytes());
    if let Finish::AlreadyAnswered { .. } = invocations.finish(request_id, Answer::Response(body)) {
        log.write(
            Level::Warn,
            Some(request_id),
            "the command finished after its invocation was answered",
        );
    }
}
