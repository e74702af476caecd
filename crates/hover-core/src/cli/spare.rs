//! The spare: a command's process forked ahead of its invocation.
//!
//! Before the runtime waits for the next invocation, it forks a process from its state as
//! it is then (the state every command starts from) that waits on a pipe. When a command
//! comes, the runtime hands it over and supervises that process: the fork is off the path
//! of the answer. A spare ends by itself if the runtime goes away first.

use std::os::fd::OwnedFd;
use std::sync::{Mutex, OnceLock, PoisonError};
use std::time::Instant;

use serde::{Deserialize, Serialize};

use super::Command;
use crate::context::Context;
use crate::log::{Level, LogFormat};
use crate::process::{self, CommandProcess, Forked};

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
pub(super) fn prepare(log: LogFormat) -> Option<Command> {
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
pub(super) fn hand(line: &str, context: &Context) {
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

/// Kills the spare, if there is one (before the runtime restarts in place).
pub fn discard() {
    SPARE.lock().unwrap_or_else(PoisonError::into_inner).take();
}

/// Takes the spare if it was handed invocation `request_id`, to supervise it.
pub(super) fn take_handed(request_id: &str) -> Option<CommandProcess> {
    SPARE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take_if(|spare| spare.handed.as_deref() == Some(request_id))
        .map(|spare| spare.process)
}

/// The spare's pid, if there is one.
pub(super) fn pid() -> Option<u32> {
    SPARE
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .as_ref()
        .map(|spare| spare.process.pid())
}
