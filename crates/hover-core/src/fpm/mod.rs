//! php-fpm, supervised: HTTP invocations are served by php-fpm, which the runtime starts,
//! watches, restarts and stops.
//!
//! php-fpm runs in its own process group (so that stopping it stops its workers too, which a
//! crashed master would otherwise leave holding its socket), with the runtime's environment
//! (the function's variables and secrets never touch the disk), and dies with the runtime.
//! Its stdout and stderr, and so its workers' (`catch_workers_output`), are one pipe that a
//! thread of the runtime reads and logs line by line, with the id of the invocation in
//! flight. The runtime talks to it on a Unix socket in [`FpmSettings::run_dir`].

mod config;

use std::collections::VecDeque;
use std::fmt;
use std::fs;
use std::io::{self, Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex, PoisonError, mpsc};
use std::time::{Duration, Instant, SystemTime};

use rustix::process::{
    Pid, Signal, WaitId, WaitIdOptions, WaitOptions, kill_process, kill_process_group, waitid,
    waitpgid, waitpid,
};

pub use config::{
    BINARY_VARIABLE, DroppedLine, FpmSettings, RUN_DIR, RUN_DIR_VARIABLE, USER_CONF_NAME,
    UserDirectives, config_text, filter_user_directives, with_user_line,
};

use crate::log::{Level, LogFormat};

/// How often readiness is checked while php-fpm starts (a start takes 30–50 ms).
const READY_CHECK_TICK: Duration = Duration::from_millis(1);
/// How long a graceful stop may take before the process group is killed.
const GRACEFUL_STOP: Duration = Duration::from_secs(1);
/// How long, once php-fpm ended before it was ready, its last output is waited for.
const OUTPUT_GRACE: Duration = Duration::from_millis(100);
/// How many of php-fpm's last lines a start failure reports.
const RECENT_LINES: usize = 50;
/// Output without a newline is logged in pieces of this size.
const LONGEST_LINE: usize = 64 * 1024;

/// Why php-fpm could not be started.
#[derive(Debug)]
pub enum FpmError {
    /// No php-fpm binary in these places.
    NotFound {
        names: Vec<String>,
        directories: Vec<PathBuf>,
    },
    /// A system call failed while doing this.
    Io { doing: String, source: io::Error },
    /// php-fpm ended before its socket accepted a connection; its last lines of output say
    /// why.
    Exited { how: String, output: Vec<String> },
    /// php-fpm's socket did not accept a connection in time.
    NotReady {
        waited: Duration,
        output: Vec<String>,
    },
}

impl fmt::Display for FpmError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::NotFound { names, directories } => write!(
                formatter,
                "php-fpm not found: no {} in {} (set {BINARY_VARIABLE} to its path)",
                names.join(" or "),
                directories
                    .iter()
                    .map(|directory| directory.display().to_string())
                    .collect::<Vec<_>>()
                    .join(":"),
            ),
            Self::Io { doing, source } => write!(formatter, "{doing}: {source}"),
            Self::Exited { how, output } => {
                write!(formatter, "php-fpm {how} before it was ready")?;
                write_output(formatter, output)
            }
            Self::NotReady { waited, output } => {
                write!(formatter, "php-fpm was not ready after {waited:?}")?;
                write_output(formatter, output)
            }
        }
    }
}

fn write_output(formatter: &mut fmt::Formatter<'_>, output: &[String]) -> fmt::Result {
    if output.is_empty() {
        return write!(formatter, " (it wrote nothing)");
    }
    write!(formatter, ":")?;
    for line in output {
        write!(formatter, "\n{line}")?;
    }
    Ok(())
}

impl std::error::Error for FpmError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Wraps an `io::Error` with what was being done.
fn failed(doing: impl fmt::Display) -> impl FnOnce(io::Error) -> FpmError {
    move |source| FpmError::Io {
        doing: doing.to_string(),
        source,
    }
}

/// The invocation in flight, set and cleared by the runtime around each request, so that
/// php-fpm's output is logged with its request id. Output that reaches the log after the
/// id is cleared (php-fpm forwards its workers' output on its own schedule) is logged
/// without one.
#[derive(Debug, Default)]
pub struct CurrentRequest(Mutex<Option<String>>);

impl CurrentRequest {
    pub fn set(&self, request_id: &str) {
        *self.lock() = Some(request_id.to_owned());
    }

    pub fn clear(&self) {
        *self.lock() = None;
    }

    pub fn get(&self) -> Option<String> {
        self.lock().clone()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Option<String>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Where php-fpm's output and the supervisor's warnings go: records in the runtime's log
/// format, each batch in one write.
pub struct LogSink {
    format: LogFormat,
    out: Mutex<Box<dyn Write + Send>>,
}

impl LogSink {
    /// Records on stderr, as the runtime's own.
    pub fn stderr(format: LogFormat) -> Self {
        Self::new(format, Box::new(io::stderr()))
    }

    /// Records on `out`.
    pub fn new(format: LogFormat, out: Box<dyn Write + Send>) -> Self {
        Self {
            format,
            out: Mutex::new(out),
        }
    }

    fn write<'a>(
        &self,
        request_id: Option<&str>,
        records: impl IntoIterator<Item = (Level, &'a str)>,
    ) {
        let now = SystemTime::now();
        let text: String = records
            .into_iter()
            .map(|(level, message)| self.format.record(now, level, request_id, message))
            .collect();
        if !text.is_empty() {
            let mut out = self.out.lock().unwrap_or_else(PoisonError::into_inner);
            // A log line that cannot be written has nowhere else to go.
            let _ = out.write_all(text.as_bytes()).and_then(|()| out.flush());
        }
    }
}

/// php-fpm, started and supervised by the runtime.
///
/// Start it, and restart it, from the main thread: the master gets `SIGTERM` when the
/// thread that started it ends (`PR_SET_PDEATHSIG` follows the thread, not the process),
/// which for the main thread is when the runtime ends. Its pid (see [`PhpFpm::pid`]) is the
/// runtime's child to keep when stray children are stopped.
pub struct PhpFpm {
    settings: FpmSettings,
    /// The function's directives in the configuration, for php-fpm's errors about them.
    user_directives: UserDirectives,
    as_root: bool,
    log: Arc<LogSink>,
    current: Arc<CurrentRequest>,
    master: Master,
}

impl PhpFpm {
    /// Writes php-fpm's configuration (the defaults, then the function's directives; lines
    /// the runtime keeps for itself are logged as warnings and left out) and starts
    /// php-fpm, without waiting for it: see [`PhpFpm::wait_ready`].
    pub fn start(
        settings: FpmSettings,
        log: LogSink,
        current: Arc<CurrentRequest>,
    ) -> Result<Self, FpmError> {
        let as_root = rustix::process::geteuid().is_root();
        let log = Arc::new(log);
        create_run_dir(&settings.run_dir)?;
        let user_directives = match &settings.user_conf {
            Some(path) => {
                let text = fs::read_to_string(path)
                    .map_err(failed(format_args!("reading {}", path.display())))?;
                let directives = filter_user_directives(&text, as_root);
                let warnings: Vec<String> = directives
                    .dropped
                    .iter()
                    .map(|dropped| {
                        format!(
                            "{} line {} ignored ({}): {}",
                            path.display(),
                            dropped.number,
                            dropped.reason,
                            dropped.line.trim()
                        )
                    })
                    .collect();
                log.write(
                    None,
                    warnings.iter().map(|line| (Level::Warn, line.as_str())),
                );
                directives
            }
            None => UserDirectives::default(),
        };
        write_private_file(
            &settings.config_file(),
            &config_text(&settings, &user_directives.kept),
        )?;
        let master = Master::spawn(&settings, as_root, &log, &current)?;
        Ok(Self {
            settings,
            user_directives,
            as_root,
            log,
            current,
            master,
        })
    }

    /// Waits until php-fpm's socket accepts a connection. Fails as soon as php-fpm ends,
    /// with what it wrote (its own message says what was wrong), or after `timeout`.
    pub fn wait_ready(&mut self, timeout: Duration) -> Result<(), FpmError> {
        let started = Instant::now();
        loop {
            if let Some(how) = self.exited() {
                self.master.kill();
                let output = self
                    .master
                    .output
                    .recent_after_end()
                    .into_iter()
                    .map(|line| {
                        with_user_line(&line, &self.settings, &self.user_directives).unwrap_or(line)
                    })
                    .collect();
                return Err(FpmError::Exited { how, output });
            }
            if UnixStream::connect(self.socket()).is_ok() {
                return Ok(());
            }
            let waited = started.elapsed();
            if waited >= timeout {
                return Err(FpmError::NotReady {
                    waited,
                    output: self.master.output.recent(),
                });
            }
            std::thread::sleep(READY_CHECK_TICK);
        }
    }

    /// php-fpm's socket.
    pub fn socket(&self) -> PathBuf {
        self.settings.socket()
    }

    /// The master's pid (the id of php-fpm's process group too); 0 if it could not be
    /// started.
    pub fn pid(&mut self) -> u32 {
        self.master
            .pid()
            .map_or(0, |pid| pid.as_raw_nonzero().get().unsigned_abs())
    }

    /// How the master ended, if it has (`None` while it runs); does not wait. The master
    /// is not reaped here, so that its pid, and so its group's id, stay its own until the
    /// group is killed ([`PhpFpm::restart`], [`PhpFpm::stop`]).
    pub fn exited(&mut self) -> Option<String> {
        self.master.ended()
    }

    /// Kills php-fpm's whole process group (workers included), starts it again with the
    /// same configuration, and waits up to `timeout` for it to be ready.
    pub fn restart(&mut self, timeout: Duration) -> Result<(), FpmError> {
        self.master.kill();
        self.master.reap();
        self.master = Master::spawn(&self.settings, self.as_root, &self.log, &self.current)?;
        self.wait_ready(timeout)
    }

    /// Stops php-fpm: `SIGQUIT` (finish the request in flight, then exit), then, after at
    /// most a second, `SIGKILL` to whatever is left of its group; reaps it. Also done when
    /// this is dropped.
    pub fn stop(&mut self) {
        self.master.stop();
    }
}

impl Drop for PhpFpm {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A php-fpm master process, leader of its own process group, and the thread that starts
/// it and then logs its output.
struct Master {
    /// The master's pid, or why it could not be started, once the thread has said.
    started: Started,
    /// How it ended, once seen; it is still unreaped until `reaped`.
    ended: Option<String>,
    reaped: bool,
    output: Output,
}

/// What the thread that starts php-fpm reports.
enum Started {
    Pending(mpsc::Receiver<io::Result<Pid>>),
    Running(Pid),
    Failed(String),
}

impl Master {
    /// Clears what an earlier php-fpm left in the run directory and starts php-fpm, on the
    /// thread that will log its output: the runtime goes on meanwhile (starting it takes a
    /// `fork` of the runtime, which waits for the `exec`: milliseconds of cold start).
    fn spawn(
        settings: &FpmSettings,
        as_root: bool,
        log: &Arc<LogSink>,
        current: &Arc<CurrentRequest>,
    ) -> Result<Self, FpmError> {
        clear_leftovers(settings)?;
        let (output, child_output) = rustix::pipe::pipe_with(rustix::pipe::PipeFlags::CLOEXEC)
            .map_err(|error| failed("creating php-fpm's output pipe")(error.into()))?;
        let child_stderr = child_output
            .try_clone()
            .map_err(failed("creating php-fpm's output pipe"))?;
        let mut command = Command::new(&settings.binary);
        command
            .arg("--nodaemonize")
            .arg("--fpm-config")
            .arg(settings.config_file());
        if as_root {
            command.arg("--allow-to-run-as-root");
        }
        // php-fpm is started on another thread, while PHP may be changing the environment
        // (`putenv` from a `.env` file as Laravel boots): the child gets a copy of it taken
        // here, on the calling thread, and never reads the live one.
        command
            .env_clear()
            .envs(std::env::vars_os())
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(Stdio::from(child_output))
            .stderr(Stdio::from(child_stderr));
        let runtime = rustix::process::getpid();
        // SAFETY: the closure runs in the forked child before `exec`, where only
        // async-signal-safe calls are sound: it makes two system calls (`prctl`, `getppid`)
        // through rustix, which neither allocates nor takes locks, and builds an
        // `io::Error` from a raw errno, which does not allocate either.
        unsafe {
            command.pre_exec(move || {
                rustix::process::set_parent_process_death_signal(Some(Signal::TERM))?;
                if rustix::process::getppid() != Some(runtime) {
                    // The runtime ended before the death signal was armed.
                    return Err(io::Error::from_raw_os_error(libc::ESRCH));
                }
                Ok(())
            });
        }
        let (output, started) = Output::start(
            command,
            &settings.binary,
            output,
            Arc::clone(log),
            Arc::clone(current),
        );
        Ok(Self {
            started: Started::Pending(started),
            ended: None,
            reaped: false,
            output,
        })
    }

    /// The master's pid: waits for the thread that starts it to say, the first time.
    fn pid(&mut self) -> Option<Pid> {
        if let Started::Pending(report) = &self.started {
            self.started = match report.recv() {
                Ok(Ok(pid)) => Started::Running(pid),
                Ok(Err(error)) => Started::Failed(format!("could not be started: {error}")),
                Err(_) => Started::Failed("could not be started: its thread ended".to_owned()),
            };
        }
        match &self.started {
            Started::Running(pid) => Some(*pid),
            _ => None,
        }
    }

    fn ended(&mut self) -> Option<String> {
        let Some(pid) = self.pid() else {
            if let Started::Failed(why) = &self.started {
                self.reaped = true;
                return Some(why.clone());
            }
            return None;
        };
        if self.ended.is_none() {
            let options = WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT;
            self.ended = loop {
                match waitid(WaitId::Pid(pid), options) {
                    Ok(None) => break None,
                    Ok(Some(status)) => {
                        break Some(match status.terminating_signal() {
                            Some(signal) => format!("was killed by {}", signal_name(signal)),
                            None => format!(
                                "exited with status {}",
                                status.exit_status().unwrap_or_default()
                            ),
                        });
                    }
                    Err(rustix::io::Errno::INTR) => continue,
                    Err(rustix::io::Errno::CHILD) => {
                        // Another master's start cleared it away as a leftover
                        // (`clear_leftovers`): its pid is not to be signalled any more.
                        self.reaped = true;
                        break Some("ended, and was reaped elsewhere".to_owned());
                    }
                    Err(error) => break Some(format!("cannot be waited for: {error}")),
                }
            };
        }
        self.ended.clone()
    }

    /// Kills the master's process group and the master. Until the master is reaped, its
    /// pid, and so the group's id, cannot be reused.
    fn kill(&mut self) {
        if let Some(pid) = self.pid()
            && !self.reaped
        {
            // ESRCH: gone already.
            let _ = kill_process_group(pid, Signal::KILL);
            let _ = kill_process(pid, Signal::KILL);
        }
    }

    /// Waits for the (killed) master, and for the workers of its group that are the
    /// runtime's children (a child subreaper inherits them when the master dies first).
    fn reap(&mut self) {
        let Some(pid) = self.pid().filter(|_| !self.reaped) else {
            return;
        };
        reap_group(pid);
        self.reaped = true;
        self.ended.get_or_insert_with(|| "was stopped".to_owned());
    }

    fn stop(&mut self) {
        let Some(pid) = self.pid().filter(|_| !self.reaped) else {
            return;
        };
        if self.ended().is_none() && kill_process(pid, Signal::QUIT).is_ok() {
            let deadline = Instant::now() + GRACEFUL_STOP;
            while self.ended().is_none() && Instant::now() < deadline {
                std::thread::sleep(READY_CHECK_TICK);
            }
        }
        self.kill();
        self.reap();
    }
}

/// Waits for `pid` and for the runtime's children in its process group. Call it once they
/// were killed.
fn reap_group(pid: Pid) {
    while let Err(rustix::io::Errno::INTR) = waitpid(Some(pid), WaitOptions::empty()) {}
    // ECHILD: none left.
    while matches!(
        waitpgid(pid, WaitOptions::empty()),
        Ok(_) | Err(rustix::io::Errno::INTR)
    ) {}
}

fn signal_name(signal: i32) -> String {
    let name = match signal {
        libc::SIGKILL => "SIGKILL",
        libc::SIGTERM => "SIGTERM",
        libc::SIGQUIT => "SIGQUIT",
        libc::SIGINT => "SIGINT",
        libc::SIGSEGV => "SIGSEGV",
        libc::SIGABRT => "SIGABRT",
        libc::SIGBUS => "SIGBUS",
        _ => return format!("signal {signal}"),
    };
    name.to_owned()
}

/// Creates the run directory, `0700`, or makes sure that the one there is this user's and
/// `0700`.
fn create_run_dir(run_dir: &Path) -> Result<(), FpmError> {
    let doing = || format!("creating php-fpm's directory {}", run_dir.display());
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(run_dir)
        .map_err(failed(doing()))?;
    let metadata = fs::metadata(run_dir).map_err(failed(doing()))?;
    let user = rustix::process::geteuid().as_raw();
    if metadata.uid() != user {
        return Err(failed(doing())(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("it belongs to uid {}, not {user}", metadata.uid()),
        )));
    }
    if metadata.permissions().mode() & 0o777 != 0o700 {
        fs::set_permissions(run_dir, fs::Permissions::from_mode(0o700)).map_err(failed(doing()))?;
    }
    Ok(())
}

/// Writes `text` to a new file at `path`, `0600`, replacing any.
fn write_private_file(path: &Path, text: &str) -> Result<(), FpmError> {
    let doing = || format!("writing {}", path.display());
    remove_if_present(path).map_err(failed(doing()))?;
    fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(failed(doing()))
}

fn remove_if_present(path: &Path) -> io::Result<()> {
    match fs::remove_file(path) {
        Err(error) if error.kind() != io::ErrorKind::NotFound => Err(error),
        _ => Ok(()),
    }
}

/// Clears what an earlier php-fpm left: its socket and pid file (a master killed with
/// `SIGKILL` removes neither, and a leftover socket would pass for a ready one), and that
/// master itself if it still runs (the runtime restarted in place keeps its children).
/// The pid file is believed only if that process's title is our master's, with our
/// configuration: anything else may have been given that pid since. The master and its
/// group are killed with `SIGKILL`, which, unlike a graceful stop, does not remove the
/// socket the new master is about to create.
fn clear_leftovers(settings: &FpmSettings) -> Result<(), FpmError> {
    let earlier_master = fs::read_to_string(settings.pid_file())
        .ok()
        .and_then(|pid| pid.trim().parse().ok())
        .and_then(Pid::from_raw)
        .filter(|pid| is_master_of(*pid, &settings.config_file()));
    if let Some(pid) = earlier_master {
        let _ = kill_process_group(pid, Signal::KILL);
        let _ = kill_process(pid, Signal::KILL);
        // Waits only if it is the runtime's child; ECHILD at once otherwise.
        reap_group(pid);
    }
    for leftover in [settings.socket(), settings.pid_file()] {
        remove_if_present(&leftover)
            .map_err(failed(format_args!("removing {}", leftover.display())))?;
    }
    Ok(())
}

/// Whether `pid` is a php-fpm master running with `config` (php-fpm titles it
/// `php-fpm: master process (<config>)`).
fn is_master_of(pid: Pid, config: &Path) -> bool {
    let title = format!("php-fpm: master process ({})", config.display());
    fs::read(format!("/proc/{}/cmdline", pid.as_raw_nonzero()))
        .is_ok_and(|cmdline| String::from_utf8_lossy(&cmdline).starts_with(&title))
}

/// The thread that logs a master's output, and its last lines.
struct Output {
    recent: Arc<Mutex<VecDeque<String>>>,
    /// Disconnected once the thread has read everything (end of file).
    finished: mpsc::Receiver<()>,
}

impl Output {
    /// Starts `command` on a thread of its own, which reports the pid (or the failure) and
    /// then reads `pipe`, php-fpm's output, until its end. The thread lives as long as
    /// the master writes to the pipe, which matters: the master's `PR_SET_PDEATHSIG` fires
    /// when the *thread* that started it ends.
    fn start(
        mut command: Command,
        binary: &Path,
        pipe: OwnedFd,
        log: Arc<LogSink>,
        current: Arc<CurrentRequest>,
    ) -> (Self, mpsc::Receiver<io::Result<Pid>>) {
        let recent = Arc::new(Mutex::new(VecDeque::with_capacity(RECENT_LINES)));
        let (finishing, finished) = mpsc::channel();
        let (reporting, report) = mpsc::sync_channel(1);
        let lines = OutputLines {
            recent: Arc::clone(&recent),
            log,
            current,
        };
        let binary = binary.display().to_string();
        std::thread::Builder::new()
            .name("php-fpm output".to_owned())
            .spawn(move || {
                // Dropping a `Child` neither waits for nor kills it: `Master` reaps it.
                let started = command
                    .spawn()
                    .map(|child| {
                        Pid::from_raw(child.id() as i32).expect("a child's pid is positive")
                    })
                    .map_err(|error| io::Error::new(error.kind(), format!("{binary}: {error}")));
                // The pipe's write ends are the child's only: end of file once php-fpm
                // is gone.
                drop(command);
                let running = started.is_ok();
                let _ = reporting.send(started);
                if running {
                    lines.read_until_end(fs::File::from(pipe));
                }
                drop(finishing);
            })
            .expect("a thread can be started");
        (Self { recent, finished }, report)
    }

    fn recent(&self) -> Vec<String> {
        let recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
        recent.iter().cloned().collect()
    }

    /// The last lines, once all are read (or after a short grace, if something else still
    /// holds the pipe open).
    fn recent_after_end(&self) -> Vec<String> {
        let _ = self.finished.recv_timeout(OUTPUT_GRACE);
        self.recent()
    }
}

/// What the output thread does with each line.
struct OutputLines {
    recent: Arc<Mutex<VecDeque<String>>>,
    log: Arc<LogSink>,
    current: Arc<CurrentRequest>,
}

impl OutputLines {
    fn read_until_end(&self, mut pipe: fs::File) {
        let mut buffer = vec![0; 64 * 1024];
        let mut pending = Vec::new();
        loop {
            let read = match pipe.read(&mut buffer) {
                Ok(0) => break,
                Ok(read) => read,
                Err(error) if error.kind() == io::ErrorKind::Interrupted => continue,
                Err(_) => break,
            };
            pending.extend_from_slice(&buffer[..read]);
            let mut lines = Vec::new();
            let mut start = 0;
            while let Some(newline) = pending[start..].iter().position(|&byte| byte == b'\n') {
                lines.push(String::from_utf8_lossy(&pending[start..start + newline]).into_owned());
                start += newline + 1;
            }
            pending.drain(..start);
            if pending.len() >= LONGEST_LINE {
                lines.push(String::from_utf8_lossy(&pending).into_owned());
                pending.clear();
            }
            self.log_lines(&lines);
        }
        if !pending.is_empty() {
            self.log_lines(&[String::from_utf8_lossy(&pending).into_owned()]);
        }
    }

    fn log_lines(&self, lines: &[String]) {
        let records: Vec<(Level, &str)> = lines
            .iter()
            .map(|line| classify(line.trim_end()))
            .filter(|(_, message)| !message.is_empty())
            .collect();
        {
            let mut recent = self.recent.lock().unwrap_or_else(PoisonError::into_inner);
            for (_, message) in &records {
                if recent.len() == RECENT_LINES {
                    recent.pop_front();
                }
                recent.push_back((*message).to_owned());
            }
        }
        self.log.write(self.current.get().as_deref(), records);
    }
}

/// A line's level, and the line without php-fpm's timestamp (the record has its own).
///
/// php-fpm's own lines start with their level (`[time] WARNING: ...`); PHP's errors come as
/// `NOTICE: PHP message: PHP Fatal error: ...`; the workers' own output has neither.
fn classify(line: &str) -> (Level, &str) {
    let message = without_timestamp(line);
    let level = if message.starts_with("ERROR: ") || message.starts_with("ALERT: ") {
        Level::Error
    } else if message.starts_with("WARNING: ") {
        Level::Warn
    } else if let Some(php) = message.strip_prefix("NOTICE: PHP message: PHP ") {
        if php.starts_with("Fatal error") || php.starts_with("Parse error") {
            Level::Error
        } else if php.starts_with("Warning") {
            Level::Warn
        } else {
            Level::Info
        }
    } else {
        Level::Info
    };
    (level, message)
}

/// `line` without php-fpm's leading `[28-Nov-2026 10:38:19] ` (or with microseconds).
fn without_timestamp(line: &str) -> &str {
    let Some(rest) = line.strip_prefix('[') else {
        return line;
    };
    match rest.split_once("] ") {
        Some((time, message))
            if (20..=27).contains(&time.len())
                && time.chars().all(|character| {
                    character.is_ascii_alphanumeric() || " -:.".contains(character)
                }) =>
        {
            message
        }
        _ => line,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fpms_timestamps_are_dropped_and_its_levels_kept() {
        assert_eq!(
            classify("[28-Nov-2026 10:38:19] NOTICE: fpm is running, pid 7779"),
            (Level::Info, "NOTICE: fpm is running, pid 7779")
        );
        assert_eq!(
            classify(
                "[28-Nov-2026 10:38:19.123456] WARNING: [pool hover] server reached max_children"
            ),
            (
                Level::Warn,
                "WARNING: [pool hover] server reached max_children"
            )
        );
        assert_eq!(
            classify("[28-Nov-2026 10:38:19] ERROR: FPM initialization failed"),
            (Level::Error, "ERROR: FPM initialization failed")
        );
        assert_eq!(
            classify("[28-Nov-2026 10:38:19] ALERT: oops"),
            (Level::Error, "ALERT: oops")
        );
    }

    #[test]
    fn php_errors_and_workers_output_get_their_levels() {
        assert_eq!(
            classify("NOTICE: PHP message: PHP Fatal error:  Uncaught Error"),
            (
                Level::Error,
                "NOTICE: PHP message: PHP Fatal error:  Uncaught Error"
            )
        );
        assert_eq!(
            classify("NOTICE: PHP message: PHP Warning:  Undefined variable $x").0,
            Level::Warn
        );
        assert_eq!(
            classify("NOTICE: PHP message: via error_log").0,
            Level::Info
        );
        assert_eq!(
            classify("[2026-11-28 10:38:19] production.ERROR: from Laravel"),
            (
                Level::Info,
                "[2026-11-28 10:38:19] production.ERROR: from Laravel"
            )
        );
        assert_eq!(classify("[x] y"), (Level::Info, "[x] y"));
    }

    /// A sink whose records the test reads back.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Write for Captured {
        fn write(&mut self, bytes: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(bytes);
            Ok(bytes.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn output_is_logged_by_line_with_the_current_request_and_the_last_lines_kept() {
        let captured = Captured::default();
        let current = Arc::new(CurrentRequest::default());
        current.set("req-7");
        let lines = OutputLines {
            recent: Arc::default(),
            log: Arc::new(LogSink::new(LogFormat::Text, Box::new(captured.clone()))),
            current,
        };
        let mut output: Vec<u8> = (0..60)
            .flat_map(|n| format!("line {n}\n").into_bytes())
            .collect();
        output.extend_from_slice(b"[28-Nov-2026 10:38:19] WARNING: last, unterminated");
        let (reader, writer) = rustix::pipe::pipe().unwrap();
        let feeding = std::thread::spawn(move || fs::File::from(writer).write_all(&output));
        lines.read_until_end(fs::File::from(reader));
        feeding.join().unwrap().unwrap();

        let logged = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let records: Vec<&str> = logged.lines().collect();
        assert_eq!(records.len(), 61, "{logged}");
        assert!(
            records[0].ends_with("\treq-7\tINFO\tline 0"),
            "{}",
            records[0]
        );
        assert!(
            records[60].ends_with("\treq-7\tWARN\tWARNING: last, unterminated"),
            "{}",
            records[60]
        );
        let recent = lines.recent.lock().unwrap();
        assert_eq!(recent.len(), RECENT_LINES);
        assert_eq!(recent.front().map(String::as_str), Some("line 11"));
        assert_eq!(
            recent.back().map(String::as_str),
            Some("WARNING: last, unterminated")
        );
    }
}
