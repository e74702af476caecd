//! Process control: a command run in a fork of the runtime, and the facts about this
//! process that make forking and changing the environment sound.
//!
//! A CLI command runs in a child forked from the booted application, as isolated as a fresh
//! `php artisan` was: its own process group (so that its own children can be stopped with
//! it), its stdout and stderr on one pipe that the runtime reads (so that everything it
//! writes is captured in order, as `2>&1` gave it), stdin on `/dev/null`, and death if the
//! runtime dies. The runtime supervises the child up to a stop point: it streams the
//! output, learns of the exit through a pidfd, and stops the whole group when time is up.

use std::fs;
use std::io;
use std::os::fd::IntoRawFd;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::atomic::{AtomicI32, AtomicU32, Ordering};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::process::{
    Pid, PidfdFlags, Signal, WaitId, WaitIdOptions, WaitOptions, kill_process_group, pidfd_open,
    waitid, waitpid,
};

/// After the command has exited (or been stopped), output still in flight is read for at
/// most this long: a process that left the group may hold the pipe open forever.
const DRAIN_GRACE: Duration = Duration::from_millis(100);
/// Without pidfds (Linux before 5.3), how often the exit is checked while the pipe stays
/// open.
const EXIT_CHECK_TICK: Duration = Duration::from_millis(5);

/// The number of threads of this process, from `/proc/self/stat`.
pub fn thread_count() -> io::Result<usize> {
    let stat = fs::read_to_string("/proc/self/stat")?;
    // The command name (field 2) is in parentheses and may hold spaces or parentheses;
    // `num_threads` is field 20, the 18th after it.
    stat.rsplit_once(')')
        .and_then(|(_, fields)| fields.split_whitespace().nth(17))
        .and_then(|count| count.parse().ok())
        .ok_or_else(|| io::Error::other("/proc/self/stat has no thread count"))
}

/// The names of this process's threads, for messages.
pub fn thread_names() -> Vec<String> {
    let Ok(tasks) = fs::read_dir("/proc/self/task") else {
        return Vec::new();
    };
    tasks
        .filter_map(|task| fs::read_to_string(task.ok()?.path().join("comm")).ok())
        .map(|name| name.trim_end().to_owned())
        .collect()
}

/// Signals whose default action would end the runtime, and which nothing in it uses: a
/// stray one (an alarm, a command signalling its parent) is ignored. `SIGINT` and
/// `SIGTERM` keep their defaults: they are how an operator, or Lambda's shutdown, stops it.
const STRAY_SIGNALS: [i32; 6] = [
    libc::SIGALRM,
    libc::SIGHUP,
    libc::SIGUSR1,
    libc::SIGUSR2,
    libc::SIGVTALRM,
    libc::SIGPROF,
];

/// Makes the runtime what a command's process leaves behind is handed to: it ignores
/// stray signals, and becomes the reaper of its descendants' orphans (a command's daemon
/// that left its group is re-parented to the runtime, not to init, so that it can be
/// found and stopped: [`stop_orphans`]).
pub fn become_runtime() -> io::Result<()> {
    set_stray_signals(libc::SIG_IGN);
    rustix::process::set_child_subreaper(Some(rustix::process::getpid()))?;
    Ok(())
}

fn set_stray_signals(disposition: libc::sighandler_t) {
    for signal in STRAY_SIGNALS {
        // SAFETY: SIG_IGN and SIG_DFL install no handler, so no code runs when the signal
        // comes; setting a disposition has no other effect on memory.
        unsafe { libc::signal(signal, disposition) };
    }
}

/// Stops every child of the runtime that is not in `keep` nor a command's process left to
/// reap ([`reap_finished`]): those are what commands left behind outside their groups
/// (daemons that called `setsid`, re-parented here when their parents ended). Waits for
/// each, so that its own children are re-parented here in turn, for a few rounds.
pub fn stop_orphans(keep: &[u32]) {
    for _ in 0..4 {
        let unreaped: Vec<u32> = UNREAPED
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .iter()
            .map(|pid| pid.as_raw_nonzero().get().unsigned_abs())
            .collect();
        let orphans: Vec<Pid> = children()
            .into_iter()
            .filter(|pid| !keep.contains(pid) && !unreaped.contains(pid))
            .filter_map(|pid| Pid::from_raw(pid as i32))
            .collect();
        if orphans.is_empty() {
            return;
        }
        for orphan in orphans {
            let _ = rustix::process::kill_process(orphan, Signal::KILL);
            while let Err(rustix::io::Errno::INTR) = waitpid(Some(orphan), WaitOptions::empty()) {}
        }
    }
}

/// The pids of this process's children.
fn children() -> Vec<u32> {
    let pid = std::process::id();
    let parse = |text: &str| -> Vec<u32> {
        text.split_whitespace()
            .filter_map(|pid| pid.parse().ok())
            .collect()
    };
    if let Ok(children) = fs::read_to_string(format!("/proc/self/task/{pid}/children")) {
        return parse(&children);
    }
    // Kernels without CONFIG_PROC_CHILDREN: every process's parent, from its stat.
    let Ok(processes) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    processes
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|child| {
            fs::read_to_string(format!("/proc/{child}/stat")).is_ok_and(|stat| {
                stat.rsplit_once(')')
                    .and_then(|(_, fields)| fields.split_whitespace().nth(1))
                    .and_then(|parent| parent.parse::<u32>().ok())
                    == Some(pid)
            })
        })
        .collect()
}

/// The pid of the command's process [`fork_command`] made, in that process; 0 elsewhere.
static COMMAND_PROCESS: AtomicU32 = AtomicU32::new(0);
/// In the command's process, the pipe on which it reports its exit status to the runtime.
static STATUS_REPORT: AtomicI32 = AtomicI32::new(-1);

/// Whether this process is a command's process made by [`fork_command`] (not the runtime,
/// and not a process the command forked in turn).
pub fn is_command_process() -> bool {
    COMMAND_PROCESS.load(Ordering::Relaxed) == std::process::id()
}

/// Ends this process at once with `status`, skipping what is left of PHP's shutdown.
///
/// For a command's process once PHP has run its shutdown functions and destructors and
/// flushed its output: all that remains is freeing the memory of the application it
/// inherited, which in a fork writes to (and so copies) every page it frees, about 10 ms
/// for a booted Laravel; the kernel frees it all at once instead. The status goes to the
/// runtime first, which can then answer while the kernel still tears the process down.
pub fn exit_now(status: i32) -> ! {
    let report = STATUS_REPORT.load(Ordering::Relaxed);
    if report >= 0 && is_command_process() {
        // SAFETY: the descriptor was opened by `fork_command` for this process and is
        // never closed in it; the process ends right after this write.
        let report = unsafe { rustix::fd::BorrowedFd::borrow_raw(report) };
        // Nothing to do if the runtime is gone: the process ends either way.
        let _ = rustix::io::write(report, &[status as u8]);
    }
    // SAFETY: `_exit` ends the process without running anything more in it; every
    // resource is the kernel's to release.
    unsafe { libc::_exit(status) }
}

/// Ends this process at once, reporting nothing: a spare command process whose runtime
/// went away.
pub fn exit_quietly() -> ! {
    // SAFETY: as in `exit_now`.
    unsafe { libc::_exit(0) }
}

/// Which side of [`fork_command`] this is.
pub enum Forked {
    /// The command's process: stdout and stderr go to the runtime, stdin is `/dev/null`.
    Child,
    /// The runtime, with the command's process to supervise.
    Parent(CommandProcess),
}

/// Forks this process to run a command.
///
/// Call it only while this process runs a single thread: the child starts with the calling
/// thread alone, and code that a missing thread had locked (an allocator, a logger) would
/// stay locked in the child.
pub fn fork_command() -> io::Result<Forked> {
    reap_finished(false);
    let (output, child_output) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let (status, child_status) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)?;
    let stdin = fs::File::open("/dev/null")?;
    let parent = rustix::process::getpid();
    // SAFETY: `fork` duplicates the calling thread only. This process runs one thread when
    // it is called (the caller's obligation above, checked by the runtime with
    // `thread_count` before it forks), so the child misses no thread and no lock held by
    // one; glibc's `fork` also resets its own locks and runs the registered atfork
    // handlers. The child then runs ordinary code, as the process it copies would have.
    let pid = unsafe { libc::fork() };
    match pid {
        -1 => Err(io::Error::last_os_error()),
        0 => {
            drop(status);
            if become_command(parent, stdin.as_fd(), &child_output, output).is_err() {
                // Never return into the runtime's code as a second runtime.
                exit_now(127);
            }
            STATUS_REPORT.store(child_status.into_raw_fd(), Ordering::Relaxed);
            Ok(Forked::Child)
        }
        pid => {
            let pid = Pid::from_raw(pid).expect("fork returned a positive pid");
            // Also set in the child; whichever runs first makes the group exist before the
            // parent may signal it. The child may already have exited (ESRCH): nothing to do.
            let _ = rustix::process::setpgid(Some(pid), Some(pid));
            drop(child_output);
            drop(child_status);
            Ok(Forked::Parent(CommandProcess::new(
                pid,
                output,
                Some(status),
            )))
        }
    }
}

/// In the forked child: its own process group, stdin on `/dev/null`, stdout and stderr on
/// the pipe, and death with the runtime.
fn become_command(
    parent: Pid,
    stdin: rustix::fd::BorrowedFd<'_>,
    child_output: &OwnedFd,
    parent_output: OwnedFd,
) -> io::Result<()> {
    COMMAND_PROCESS.store(std::process::id(), Ordering::Relaxed);
    rustix::process::setpgid(None, None)?;
    rustix::process::set_parent_process_death_signal(Some(Signal::KILL))?;
    if rustix::process::getppid() != Some(parent) {
        // The runtime died before the death signal was armed.
        exit_now(1);
    }
    drop(parent_output);
    set_stray_signals(libc::SIG_DFL);
    rustix::stdio::dup2_stdin(stdin)?;
    rustix::stdio::dup2_stdout(child_output)?;
    rustix::stdio::dup2_stderr(child_output)?;
    Ok(())
}

/// Which of a command's descriptors are ready.
#[derive(Default)]
struct Ready {
    output: bool,
    status: bool,
    exit: bool,
}

/// How a supervised command ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// It exited with this status (0–255).
    Exited(i32),
    /// A signal ended it.
    Signaled(i32),
    /// The stop point came first: its process group was killed.
    Stopped,
}

impl Ended {
    /// The status a shell reports: the exit status, or 128 plus the signal.
    pub fn shell_status(self) -> Option<i32> {
        match self {
            Self::Exited(status) => Some(status),
            Self::Signaled(signal) => Some(128 + signal),
            Self::Stopped => None,
        }
    }
}

/// A command's process, seen from the runtime. Dropping it kills what is left of its
/// process group and reaps it, so that nothing of a command outlives its invocation.
pub struct CommandProcess {
    pid: Pid,
    output: Option<OwnedFd>,
    /// Where the process reports its exit status just before it ends (see [`exit_now`]).
    status_report: Option<OwnedFd>,
    /// Readable once the process has exited; `None` where the kernel has no pidfds.
    exit_watch: Option<OwnedFd>,
    reported: Option<i32>,
    exited: bool,
    reaped: bool,
}

impl CommandProcess {
    /// A child `pid`, leader of its own process group, writing to the pipe end `output`
    /// and reporting its status on `status_report`, if it does.
    pub fn new(pid: Pid, output: OwnedFd, status_report: Option<OwnedFd>) -> Self {
        Self {
            pid,
            output: Some(output),
            status_report,
            exit_watch: pidfd_open(pid, PidfdFlags::empty()).ok(),
            reported: None,
            exited: false,
            reaped: false,
        }
    }

    pub fn pid(&self) -> u32 {
        self.pid.as_raw_nonzero().get().unsigned_abs()
    }

    /// Reads the command's output into `on_output` as it comes, until the command exits or
    /// `stop_at` comes, when its whole process group is killed. Either way, what is left of
    /// the group is then killed, and the output written before is read.
    pub fn supervise(
        &mut self,
        stop_at: Instant,
        mut on_output: impl FnMut(&[u8]),
    ) -> io::Result<Ended> {
        let mut buffer = vec![0; 64 * 1024];
        while !self.exited && self.reported.is_none() {
            let now = Instant::now();
            if now >= stop_at {
                self.kill_group();
                self.drain(&mut buffer, &mut on_output, DRAIN_GRACE);
                return Ok(Ended::Stopped);
            }
            let wait = match &self.exit_watch {
                Some(_) => stop_at - now,
                None => (stop_at - now).min(EXIT_CHECK_TICK),
            };
            let ready = self.wait_for_events(wait)?;
            if ready.output {
                self.read_once(&mut buffer, &mut on_output)?;
            }
            if ready.status {
                self.read_status();
            }
            if ready.exit || (self.exit_watch.is_none() && self.has_exited()?) {
                self.exited = true;
            }
        }
        // Whatever the command left running in its group goes with it; what they wrote
        // before is still in the pipe.
        self.kill_group();
        if let Some(status) = self.reported {
            // Its output is all in the pipe: the process reported after its last write.
            // The kernel may still be tearing it down; it is reaped when this is dropped.
            self.drain(&mut buffer, &mut on_output, Duration::ZERO);
            return Ok(Ended::Exited(status));
        }
        self.drain(&mut buffer, &mut on_output, DRAIN_GRACE);
        let status = self.reap()?;
        Ok(if let Some(signal) = status.terminating_signal() {
            Ended::Signaled(signal)
        } else {
            Ended::Exited(status.exit_status().unwrap_or(0))
        })
    }

    /// Waits up to `wait` for output, a status report or the exit; says which came.
    fn wait_for_events(&self, wait: Duration) -> io::Result<Ready> {
        let readable = PollFlags::IN | PollFlags::HUP | PollFlags::ERR;
        let watched = [&self.output, &self.status_report, &self.exit_watch];
        let mut fds: Vec<PollFd<'_>> = watched
            .iter()
            .filter_map(|fd| fd.as_ref())
            .map(|fd| PollFd::new(fd, PollFlags::IN))
            .collect();
        if fds.is_empty() {
            std::thread::sleep(wait);
            return Ok(Ready::default());
        }
        let timeout = Timespec::try_from(wait).unwrap_or(Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 0,
        });
        match poll(&mut fds, Some(&timeout)) {
            Ok(_) => {}
            Err(rustix::io::Errno::INTR) => return Ok(Ready::default()),
            Err(error) => return Err(error.into()),
        }
        let mut revents = fds.iter().map(|fd| fd.revents().intersects(readable));
        let mut next =
            |watched: &Option<OwnedFd>| watched.is_some() && revents.next().unwrap_or(false);
        Ok(Ready {
            output: next(&self.output),
            status: next(&self.status_report),
            exit: next(&self.exit_watch),
        })
    }

    /// Reads the status the process reported; end of file means it will report none.
    fn read_status(&mut self) {
        let Some(report) = &self.status_report else {
            return;
        };
        let mut status = [0];
        match rustix::io::read(report, &mut status) {
            Ok(1) => self.reported = Some(i32::from(status[0])),
            Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
            _ => self.status_report = None,
        }
    }

    /// One read from the pipe; end of file closes it.
    fn read_once(
        &mut self,
        buffer: &mut [u8],
        on_output: &mut impl FnMut(&[u8]),
    ) -> io::Result<()> {
        let Some(output) = &self.output else {
            return Ok(());
        };
        match rustix::io::read(output, &mut *buffer) {
            Ok(0) => self.output = None,
            Ok(read) => on_output(&buffer[..read]),
            Err(rustix::io::Errno::INTR | rustix::io::Errno::AGAIN) => {}
            Err(error) => return Err(error.into()),
        }
        Ok(())
    }

    /// Reads what is left in the pipe, waiting at most `grace` for more to come.
    fn drain(&mut self, buffer: &mut [u8], on_output: &mut impl FnMut(&[u8]), grace: Duration) {
        let until = Instant::now() + grace;
        while let Some(output) = &self.output {
            let timeout = Timespec::try_from(until.saturating_duration_since(Instant::now()))
                .unwrap_or_default();
            let mut fds = [PollFd::new(output, PollFlags::IN)];
            match poll(&mut fds, Some(&timeout)) {
                Ok(0) => break,
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(_) => break,
            }
            if self.read_once(buffer, on_output).is_err() {
                break;
            }
        }
        self.output = None;
    }

    /// Whether the process has exited, without reaping it (its pid, and so its process
    /// group id, stay reserved until it is reaped).
    fn has_exited(&self) -> io::Result<bool> {
        let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
        loop {
            match waitid(WaitId::Pid(self.pid), options) {
                Ok(status) => return Ok(status.is_some()),
                Err(rustix::io::Errno::INTR) => continue,
                Err(error) => return Err(error.into()),
            }
        }
    }

    /// Kills every process of the command's group, and the command's process itself (which
    /// may have left the group). Called before the process is reaped, so neither its pid
    /// nor its group id can have been reused.
    fn kill_group(&self) {
        if !self.reaped {
            // ESRCH: the group is empty, or the process gone, already.
            let _ = kill_process_group(self.pid, Signal::KILL);
            let _ = rustix::process::kill_process(self.pid, Signal::KILL);
        }
    }

    fn reap(&mut self) -> io::Result<rustix::process::WaitStatus> {
        loop {
            match waitpid(Some(self.pid), WaitOptions::empty()) {
                Ok(Some((_, status))) => {
                    self.reaped = true;
                    return Ok(status);
                }
                Ok(None) => continue,
                Err(rustix::io::Errno::INTR) => continue,
                Err(error) => {
                    self.reaped = true;
                    return Err(error.into());
                }
            }
        }
    }
}

impl Drop for CommandProcess {
    /// Kills what is left of the group, and reaps the process if it is gone; if the kernel
    /// is still tearing it down, it is reaped later ([`reap_finished`]) rather than waited
    /// for, so that the runtime can go on to the next invocation meanwhile. Until then the
    /// zombie keeps its pid, and so its group id, from being reused.
    fn drop(&mut self) {
        if self.reaped {
            return;
        }
        self.kill_group();
        match waitpid(Some(self.pid), WaitOptions::NOHANG) {
            Ok(None) | Err(rustix::io::Errno::INTR) => UNREAPED
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .push(self.pid),
            _ => {}
        }
    }
}

/// Reaps every child of this process that has ended. In a queue function, what jobs left
/// running in the background is re-parented to the runtime (the reaper of its descendants'
/// orphans, [`become_runtime`]) and would stay a zombie there; reaped between batches. A
/// job that leaves a child running for a later job to wait for finds it reaped.
pub fn reap_ended_children() {
    loop {
        match rustix::process::wait(WaitOptions::NOHANG) {
            Ok(Some(_)) | Err(rustix::io::Errno::INTR) => {}
            Ok(None) | Err(_) => return,
        }
    }
}

/// Commands' processes that were killed or had ended but were not reaped yet.
static UNREAPED: Mutex<Vec<Pid>> = Mutex::new(Vec::new());

/// Reaps the commands' processes that have ended since they were dropped; with `wait`,
/// waits for each (they were all killed, so not for long).
pub fn reap_finished(wait: bool) {
    let options = if wait {
        WaitOptions::empty()
    } else {
        WaitOptions::NOHANG
    };
    UNREAPED
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .retain(|pid| {
            loop {
                match waitpid(Some(*pid), options) {
                    Ok(None) => return true,
                    Err(rustix::io::Errno::INTR) => continue,
                    // Reaped, or not a child any more.
                    _ => return false,
                }
            }
        });
}

#[cfg(test)]
mod tests {
    //! Commands here are real processes started by `sh` in their own process group with
    //! their output on a pipe, as `fork_command` arranges for a PHP child (forking the
    //! multi-threaded test harness itself would not be sound). `fork_command` itself is
    //! exercised from PHP, end to end.
    use super::*;
    use std::os::fd::FromRawFd;
    use std::os::unix::process::CommandExt;
    use std::process::{Command, Stdio};

    fn spawn(script: &str) -> CommandProcess {
        let (output, child_output) =
            rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        let child = Command::new("sh")
            .args(["-c", script])
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::from(child_output.try_clone().unwrap()))
            .stderr(Stdio::from(child_output))
            .spawn()
            .unwrap();
        let pid = Pid::from_raw(child.id() as i32).unwrap();
        std::mem::forget(child); // CommandProcess reaps it.
        CommandProcess::new(pid, output, None)
    }

    fn run(script: &str, budget: Duration) -> (Ended, String, Duration) {
        let mut process = spawn(script);
        let started = Instant::now();
        let mut output = Vec::new();
        let ended = process
            .supervise(started + budget, |bytes| output.extend_from_slice(bytes))
            .unwrap();
        (ended, String::from_utf8(output).unwrap(), started.elapsed())
    }

    fn alive(pid: i32) -> bool {
        match fs::read_to_string(format!("/proc/{pid}/stat")) {
            Ok(stat) => !matches!(
                stat.rsplit_once(')')
                    .and_then(|(_, rest)| rest.split_whitespace().next()),
                Some("Z" | "X")
            ),
            Err(_) => false,
        }
    }

    /// Whether the process whose pid the command wrote to `marker` ends within 2 s.
    fn ended_within_seconds(marker: &std::path::Path) -> bool {
        let pid: i32 = fs::read_to_string(marker).unwrap().trim().parse().unwrap();
        fs::remove_file(marker).unwrap();
        let deadline = Instant::now() + Duration::from_secs(2);
        while alive(pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        !alive(pid)
    }

    #[test]
    fn this_test_binary_counts_its_threads() {
        let before = thread_count().unwrap();
        assert!(before >= 1);
        let (stop, stopped) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || stopped.recv());
        assert!(thread_count().unwrap() > before);
        assert!(thread_names().len() > before);
        stop.send(()).unwrap();
        thread.join().unwrap().unwrap();
    }

    #[test]
    fn stdout_and_stderr_arrive_in_order_with_the_exit_status() {
        let (ended, output, _) = run(
            "echo one; echo two >&2; printf three; exit 3",
            Duration::from_secs(10),
        );
        assert_eq!(ended, Ended::Exited(3));
        assert_eq!(output, "one\ntwo\nthree");
        assert_eq!(ended.shell_status(), Some(3));
    }

    #[test]
    fn a_reported_status_is_taken_without_waiting_for_the_end_of_the_process() {
        use std::os::fd::AsRawFd;
        let (output, child_output) =
            rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        let (status, child_status) =
            rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC).unwrap();
        let report = child_status.as_raw_fd();
        let mut command = Command::new("sh");
        // The script reports 7 on descriptor 3, as `exit_now` does, then lingers the way a
        // process being torn down would.
        command
            .args(["-c", "echo done; printf '\\007' >&3; exec sleep 5"])
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::from(child_output.try_clone().unwrap()))
            .stderr(Stdio::from(child_output));
        // SAFETY: only async-signal-safe calls (dup2) between fork and exec.
        unsafe {
            command.pre_exec(move || {
                rustix::io::retry_on_intr(|| {
                    let mut target = rustix::fd::OwnedFd::from_raw_fd(3);
                    let result =
                        rustix::io::dup2(rustix::fd::BorrowedFd::borrow_raw(report), &mut target);
                    std::mem::forget(target);
                    result
                })?;
                Ok(())
            });
        }
        let child = command.spawn().unwrap();
        drop(child_status);
        let pid = Pid::from_raw(child.id() as i32).unwrap();
        std::mem::forget(child);
        let mut process = CommandProcess::new(pid, output, Some(status));
        let started = Instant::now();
        let mut seen = Vec::new();
        let ended = process
            .supervise(started + Duration::from_secs(10), |bytes| {
                seen.extend_from_slice(bytes)
            })
            .unwrap();
        assert_eq!(ended, Ended::Exited(7));
        assert_eq!(seen, b"done\n");
        assert!(
            started.elapsed() < Duration::from_secs(2),
            "{:?}",
            started.elapsed()
        );
        let raw_pid = pid.as_raw_nonzero().get();
        drop(process);
        let deadline = Instant::now() + Duration::from_secs(2);
        while alive(raw_pid) && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(10));
        }
        assert!(!alive(raw_pid), "dropping it kills the lingering process");
        reap_finished(true);
        assert!(
            !std::path::Path::new(&format!("/proc/{raw_pid}")).exists(),
            "and it is reaped"
        );
    }

    #[test]
    fn a_signal_is_reported_as_a_shell_would() {
        let (ended, _, _) = run("kill -SEGV $$", Duration::from_secs(10));
        assert_eq!(ended, Ended::Signaled(11));
        assert_eq!(ended.shell_status(), Some(139));
    }

    #[test]
    fn the_stop_point_kills_the_whole_group_and_keeps_the_output_so_far() {
        let marker = std::env::temp_dir().join(format!("hover-grandchild-{}", std::process::id()));
        let script = format!(
            "sleep 300 & echo $! > {}; echo started; sleep 300",
            marker.display()
        );
        let (ended, output, elapsed) = run(&script, Duration::from_millis(300));
        assert_eq!(ended, Ended::Stopped);
        assert_eq!(output, "started\n");
        assert!(elapsed < Duration::from_secs(2), "{elapsed:?}");
        assert!(
            ended_within_seconds(&marker),
            "the command's own child died with it"
        );
    }

    #[test]
    fn what_a_command_leaves_running_is_killed_when_it_exits() {
        let marker = std::env::temp_dir().join(format!("hover-leftover-{}", std::process::id()));
        let script = format!("sleep 300 & echo $! > {}; echo done", marker.display());
        let (ended, output, elapsed) = run(&script, Duration::from_secs(10));
        assert_eq!(ended, Ended::Exited(0));
        assert_eq!(output, "done\n");
        assert!(
            elapsed < Duration::from_secs(2),
            "the open pipe did not hold the answer: {elapsed:?}"
        );
        assert!(ended_within_seconds(&marker));
    }

    #[test]
    fn a_command_that_closes_its_output_is_still_waited_for() {
        let (ended, output, elapsed) = run(
            "echo before; exec >&- 2>&-; sleep 0.3; exit 4",
            Duration::from_secs(10),
        );
        assert_eq!(ended, Ended::Exited(4));
        assert_eq!(output, "before\n");
        assert!(elapsed >= Duration::from_millis(300));
    }

    #[test]
    fn output_larger_than_the_pipe_is_read_while_the_command_runs() {
        let (ended, output, _) = run(
            "head -c 1000000 /dev/zero | tr '\\0' x; echo",
            Duration::from_secs(10),
        );
        assert_eq!(ended, Ended::Exited(0));
        assert_eq!(output.len(), 1_000_001);
    }

    #[test]
    fn a_stop_point_already_past_stops_at_once() {
        let (ended, _, elapsed) = run("sleep 300", Duration::ZERO);
        assert_eq!(ended, Ended::Stopped);
        assert!(elapsed < Duration::from_secs(1));
    }
}
