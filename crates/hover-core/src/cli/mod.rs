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

pub mod output;

use std::os::fd::OwnedFd;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::context::Context;
use crate::error_response::{ErrorResponse, ErrorType};
use crate::invocation::{Answer, Answers, Finish, Invocations, RuntimeApi};
use crate::log::{Level, LogFormat};
use crate::process::{self, CommandProcess, Ended, Forked};
use crate::runtime_api::RuntimeApiError;
use output::{CommandOutput, OutputLines};

/// The longest command line accepted. Symfony's `StringInput` takes time quadratic in the
/// length of a token (here: 75 ms for a 4 KB token, 0.3 s for 8 KB, 28 s for 128 KB), so a
/// longer line is refused before it is parsed.
pub const MAX_COMMAND_LINE: usize = 8 * 1024;
/// How much of a command line log records and messages quote.
const QUOTED_LINE: usize = 200;
/// How much of the output so far a timeout's message quotes.
const QUOTED_OUTPUT: usize = 2 * 1024;

/// Reads the artisan command line out of a CLI event.
pub fn parse_event(payload: &[u8]) -> Result<String, ErrorResponse> {
    let invalid = |message: String| ErrorResponse::new(ErrorType::InvalidEvent, message);
    let event: Value = serde_json::from_slice(payload)
        .map_err(|error| invalid(format!("the event is not valid JSON ({error}); a CLI function expects {{\"command\": \"<artisan command>\"}}")))?;
    let Value::Object(event) = event else {
        return Err(invalid(format!(
            "the event is {}, not an object; a CLI function expects {{\"command\": \"<artisan command>\"}}",
            kind_of(&event)
        )));
    };
    match event.get("command") {
        Some(Value::String(command)) if command.len() > MAX_COMMAND_LINE => Err(invalid(format!(
            "the command line is {} bytes long; at most {MAX_COMMAND_LINE} are accepted: {}",
            command.len(),
            quoted(command)
        ))),
        Some(Value::String(command)) => Ok(command.clone()),
        Some(other) => Err(invalid(format!("\"command\" is {}; it must be a string such as \"migrate --force\"", kind_of(other)))),
        None => Err(invalid("the event has no \"command\"; a CLI function expects {\"command\": \"<artisan command>\"}".into())),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A command line as log records and messages quote it: in backquotes, cut after
/// [`QUOTED_LINE`] characters.
pub fn quoted(line: &str) -> String {
    match line.char_indices().nth(QUOTED_LINE) {
        None => format!("`{line}`"),
        Some((end, _)) => format!("`{}…` ({} bytes)", &line[..end], line.len()),
    }
}

#[derive(Serialize)]
struct Response<'a> {
    exit_code: i64,
    output: &'a str,
}

/// The response body for a finished command.
pub fn response(exit_code: i64, output: &[u8]) -> Vec<u8> {
    let output = STANDARD.encode(output);
    serde_json::to_vec(&Response {
        exit_code,
        output: &output,
    })
    .expect("a struct of an integer and a string always serializes")
}

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
    if let Some(command) = prepare_spare(invocations.log()) {
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
                hand_to_spare(&line, &context);
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

/// A process forked ahead of the next command, waiting for it on a pipe.
struct Spare {
    process: CommandProcess,
    /// The pipe the command goes on; closed once it has.
    commands: Option<OwnedFd>,
    /// The request id of the command it was handed, once it was.
    handed: Option<String>,
}

/// This runtime's spare, if it has one.
static SPARE: Mutex<Option<Spare>> = Mutex::new(None);
/// In a spare, the request id of the command it was handed.
static HANDED: OnceLock<String> = OnceLock::new();

/// Whether this process is the spare that was handed invocation `request_id`: the
/// command's process, already forked.
pub fn runs_here(request_id: &str) -> bool {
    process::is_command_process() && HANDED.get().is_some_and(|handed| handed == request_id)
}

/// A command as the runtime hands it to its spare.
#[derive(Serialize, Deserialize)]
struct Handed {
    line: String,
    context: Context,
}

/// Forks a spare if there is none. Returns `None` in the runtime, and in the spare the
/// command it is handed (it ends, quietly, if the runtime goes away first).
fn prepare_spare(log: LogFormat) -> Option<Command> {
    let mut spare = SPARE.lock().unwrap_or_else(PoisonError::into_inner);
    if spare.is_some() || !matches!(process::thread_count(), Ok(1)) {
        // Without a spare, `run` forks when the command comes, or says why it cannot.
        return None;
    }
    let forked = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
        .map_err(std::io::Error::from)
        .and_then(|(receive, send)| Ok((process::fork_command()?, receive, send)));
    match forked {
        Ok((Forked::Child, receive, send)) => {
            drop(send);
            drop(spare);
            Some(wait_for_command(receive))
        }
        Ok((Forked::Parent(process), receive, send)) => {
            drop(receive);
            *spare = Some(Spare {
                process,
                commands: Some(send),
                handed: None,
            });
            None
        }
        Err(error) => {
            log.write(
                Level::Warn,
                None,
                &format!("could not fork a process ahead of the next command: {error}"),
            );
            None
        }
    }
}

/// In the spare: reads the command it is handed; ends if the runtime goes away instead.
fn wait_for_command(receive: OwnedFd) -> Command {
    let mut message = Vec::new();
    let mut buffer = [0; 16 * 1024];
    loop {
        match rustix::io::read(&receive, &mut buffer) {
            Ok(0) => break,
            Ok(read) => message.extend_from_slice(&buffer[..read]),
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => process::exit_quietly(),
        }
    }
    let Ok(Handed { line, context }) = serde_json::from_slice(&message) else {
        // The runtime went away (its end of the pipe closed with nothing sent).
        process::exit_quietly();
    };
    let _ = HANDED.set(context.request_id.clone());
    Command {
        line,
        context,
        stop_at: Instant::now(),
    }
}

/// Hands the command to the spare, if there is one; a spare that cannot take it is
/// dropped (killed), and `run` forks instead.
fn hand_to_spare(line: &str, context: &Context) {
    let mut slot = SPARE.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(spare) = slot.as_mut() else {
        return;
    };
    let message = serde_json::to_vec(&Handed {
        line: line.to_owned(),
        context: context.clone(),
    })
    .expect("a command and its context always serialize");
    let Some(commands) = spare.commands.take() else {
        return;
    };
    let mut written = 0;
    while written < message.len() {
        match rustix::io::write(&commands, &message[written..]) {
            Ok(count) => written += count,
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => {
                *slot = None;
                return;
            }
        }
    }
    // Closing the pipe ends the message: the spare reads to its end.
    drop(commands);
    spare.handed = Some(context.request_id.clone());
}

/// Stops what commands left running outside their groups: every child of the runtime but
/// its spare.
fn stop_what_commands_left() {
    let spare = SPARE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map(|spare| spare.process.pid());
    process::stop_orphans(spare.as_slice());
}

/// Kills the spare, if there is one (before the runtime restarts in place).
pub fn discard_spare() {
    SPARE.lock().unwrap_or_else(PoisonError::into_inner).take();
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
    let failed = |message: String| {
        invocations.finish(
            request_id,
            Answer::Error(ErrorResponse::new(ErrorType::CommandFailed, message)),
        );
        Side::Runtime
    };
    let spare = SPARE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take_if(|spare| spare.handed.as_deref() == Some(request_id.as_str()));
    let mut child = match spare {
        Some(spare) => spare.process,
        None => match fork_now(&command.line) {
            Ok(Forked::Child) => return Side::Command,
            Ok(Forked::Parent(child)) => child,
            Err(message) => return failed(message),
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
    let elapsed = invocations.elapsed(request_id).unwrap_or_default();
    let status = match ended {
        Ok(Ended::Stopped) => {
            let last = output.last(QUOTED_OUTPUT);
            invocations.update(request_id, |answers: &mut CommandAnswers| {
                answers.last_output = last;
            });
            invocations.stop(request_id, false);
            drop(child);
            stop_what_commands_left();
            return Side::Runtime;
        }
        Ok(ended) => ended.shell_status().unwrap_or(255),
        Err(error) => {
            return failed(format!(
                "lost track of the process running {}: {error}",
                quoted(&command.line)
            ));
        }
    };
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
    // Answered: now what is left of the process (the kernel may still be tearing it
    // down) is killed, and so is what it started outside its group.
    drop(child);
    stop_what_commands_left();
    Side::Runtime
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_command() {
        assert_eq!(
            parse_event(br#"{"command": "migrate --force"}"#),
            Ok("migrate --force".into())
        );
        assert_eq!(
            parse_event(br#"{"command": "", "extra": 1}"#),
            Ok(String::new())
        );
    }

    #[test]
    fn malformed_events_are_explained() {
        let cases: [(&[u8], &str); 5] = [
            (b"not json", "the event is not valid JSON"),
            (br#""migrate""#, "the event is a string, not an object"),
            (br#"["migrate"]"#, "the event is an array, not an object"),
            (br#"{"cmd": "migrate"}"#, "the event has no \"command\""),
            (
                br#"{"command": ["migrate"]}"#,
                "\"command\" is an array; it must be a string",
            ),
        ];
        for (payload, expected) in cases {
            let error = parse_event(payload).unwrap_err();
            assert_eq!(error.error_type, ErrorType::InvalidEvent.code());
            assert!(
                error.error_message.starts_with(expected),
                "{}: {}",
                String::from_utf8_lossy(payload),
                error.error_message
            );
        }
    }

    #[test]
    fn the_response_has_hovers_shape() {
        let body = response(3, b"line one\nline \xff two\n");
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["exit_code"], 3);
        let decoded = STANDARD.decode(value["output"].as_str().unwrap()).unwrap();
        assert_eq!(decoded, b"line one\nline \xff two\n");
        assert!(
            String::from_utf8(body)
                .unwrap()
                .starts_with("{\"exit_code\":3,\"output\":\"")
        );
    }

    #[test]
    fn a_command_line_past_the_limit_is_refused_before_it_is_parsed() {
        let longest = format!("{{\"command\": \"{}\"}}", "a".repeat(MAX_COMMAND_LINE));
        assert_eq!(
            parse_event(longest.as_bytes()).unwrap().len(),
            MAX_COMMAND_LINE
        );
        let line = format!("hover:greet {}", "é".repeat(MAX_COMMAND_LINE));
        let event = serde_json::to_vec(&serde_json::json!({ "command": line })).unwrap();
        let error = parse_event(&event).unwrap_err();
        assert_eq!(error.error_type, ErrorType::InvalidEvent.code());
        assert!(
            error.error_message.starts_with(&format!(
                "the command line is {} bytes long; at most 8192 are accepted: `hover:greet éé",
                line.len()
            )),
            "{}",
            error.error_message
        );
        assert!(
            error.error_message.len() < 600,
            "the line is quoted, not copied"
        );
    }

    #[test]
    fn quoting_cuts_long_lines_on_a_character_boundary() {
        assert_eq!(quoted("migrate --force"), "`migrate --force`");
        let long = "é".repeat(300);
        assert_eq!(
            quoted(&long),
            format!("`{}…` (600 bytes)", "é".repeat(QUOTED_LINE))
        );
    }
}
