//! What a queue function's jobs write to STDOUT and STDERR, as log records with the
//! invocation's request id.
//!
//! Jobs run in the runtime's own process, so their output would otherwise share the
//! runtime's stderr: a job writing a line without its newline would glue the runtime's
//! next record to it (breaking a JSON log), and output would carry no request id. Instead,
//! descriptors 1 and 2 become a pipe that a thread reads, line by line, and logs each line
//! as a record, a partial line once nothing more comes for a moment
//! ([`PARTIAL_LINE_WAIT`]). The runtime's own records go to the stderr kept at init
//! ([`crate::log::keep_stdio`]).
//!
//! Before a batch is answered, [`JobOutput::flush`] has the thread log everything written
//! so far, so that a batch's output is in the log before its answer; that costs one system
//! call when nothing is left. Before a restart in place, [`JobOutput::drain`] puts the kept
//! descriptors back and has the thread log what is left: nothing a job wrote before PHP
//! ended is lost.

use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Duration;

use rustix::event::{EventfdFlags, PollFd, PollFlags, Timespec, eventfd, poll};
use rustix::pipe::{PipeFlags, pipe_with};

use crate::cli::output::OutputLines;
use crate::log::{Level, LogFormat};

/// How long a partial line waits for the rest of it before it is logged as it is.
pub const PARTIAL_LINE_WAIT: Duration = Duration::from_millis(50);
/// How long [`JobOutput::flush`] and [`JobOutput::drain`] wait for the thread.
const FLUSH_WAIT: Duration = Duration::from_millis(200);

#[derive(Default)]
struct State {
    request_id: Option<String>,
    /// Bytes read but not logged yet (a partial line).
    pending: bool,
    /// Asked to log everything now; cleared by the thread once done.
    flushing: bool,
    /// Asked to log everything and end.
    draining: bool,
}

struct Shared {
    state: Mutex<State>,
    flushed: Condvar,
    /// The pipe's reading end (the thread's), to see whether anything is left unread.
    reading: OwnedFd,
    /// Wakes the thread.
    wake: OwnedFd,
}

/// The relay of job output; one per process.
pub struct JobOutput {
    shared: Arc<Shared>,
}

impl JobOutput {
    /// Turns descriptors 1 and 2 into a pipe that a thread logs in `log`'s format. Refused
    /// unless the runtime's own stdout and stderr are kept aside: the log would write into
    /// the pipe it reads.
    pub fn capture(log: LogFormat) -> io::Result<Self> {
        if !crate::log::stdio_kept() {
            return Err(io::Error::other(
                "the runtime's own stderr was not kept aside",
            ));
        }
        let (reading, writing) = pipe_with(PipeFlags::CLOEXEC)?;
        let shared = Arc::new(Shared {
            state: Mutex::default(),
            flushed: Condvar::new(),
            reading,
            wake: eventfd(0, EventfdFlags::CLOEXEC)?,
        });
        let relay = Arc::clone(&shared);
        thread::Builder::new()
            .name("hover-job-output".into())
            .stack_size(128 * 1024)
            .spawn(move || relay.relay_lines(log))?;
        rustix::stdio::dup2_stdout(&writing)?;
        rustix::stdio::dup2_stderr(&writing)?;
        Ok(Self { shared })
    }

    /// Logs what comes from now on with `request_id`.
    pub fn attribute_to(&self, request_id: &str) {
        let mut state = self.shared.lock();
        if state.request_id.as_deref() != Some(request_id) {
            state.request_id = Some(request_id.to_owned());
        }
    }

    /// Waits (briefly) until everything written so far is logged.
    pub fn flush(&self) {
        let unread = rustix::io::ioctl_fionread(&self.shared.reading).unwrap_or(1);
        if unread == 0 && !self.shared.lock().pending {
            return;
        }
        self.wait_for_thread(|state| state.flushing = true, |state| state.flushing);
    }

    /// Puts the runtime's own stdout and stderr back on descriptors 1 and 2, then waits
    /// (briefly) for the thread to log what is left and end.
    pub fn drain(&self) {
        crate::log::restore_stdio();
        self.wait_for_thread(|state| state.draining = true, |state| state.draining);
    }

    fn wait_for_thread(&self, ask: impl FnOnce(&mut State), asked: impl Fn(&State) -> bool) {
        let mut state = self.shared.lock();
        ask(&mut state);
        let _ = rustix::io::write(&self.shared.wake, &1u64.to_ne_bytes());
        let _ = self
            .shared
            .flushed
            .wait_timeout_while(state, FLUSH_WAIT, |state| asked(state))
            .unwrap_or_else(PoisonError::into_inner);
    }
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The thread: reads the pipe, logs whole lines, a partial one after a wait, and
    /// everything when asked.
    fn relay_lines(&self, log: LogFormat) {
        let mut buffer = vec![0; 64 * 1024];
        // Lines cut as a command's output is (pieces of at most 64 KB).
        let mut pending = OutputLines::default();
        loop {
            let asked = {
                let state = self.lock();
                state.flushing || state.draining
            };
            let wait = if asked {
                Some(Timespec::default())
            } else if pending.is_empty() {
                None
            } else {
                Some(Timespec::try_from(PARTIAL_LINE_WAIT).expect("a short wait fits"))
            };
            let mut fds = [
                PollFd::new(&self.reading, PollFlags::IN),
                PollFd::new(&self.wake, PollFlags::IN),
            ];
            match poll(&mut fds, wait.as_ref()) {
                Ok(_) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => return,
            }
            let readable = !fds[0].revents().is_empty();
            if !fds[1].revents().is_empty() {
                let mut count = [0; 8];
                let _ = rustix::io::read(&self.wake, &mut count);
            }
            let mut lines: Vec<String> = Vec::new();
            let mut collect = |line: &[u8]| lines.push(String::from_utf8_lossy(line).into_owned());
            if readable {
                match rustix::io::read(&self.reading, &mut buffer) {
                    Ok(0) => return,
                    Ok(read) => pending.feed(&buffer[..read], &mut collect),
                    Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => continue,
                    Err(_) => return,
                }
            } else if asked || wait.is_some() {
                // Nothing more came (or everything is asked for): a partial line goes as it is.
                pending.finish(&mut collect);
            }
            let mut state = self.lock();
            let records = lines.iter().map(|line| line.trim_end_matches('\r'));
            log.write_all(
                Level::Info,
                state.request_id.as_deref(),
                records.filter(|line| !line.is_empty()),
            );
            state.pending = !pending.is_empty();
            if asked && !readable && pending.is_empty() {
                let draining = state.draining;
                state.flushing = false;
                state.draining = false;
                self.flushed.notify_all();
                if draining {
                    return;
                }
            }
        }
    }
}
