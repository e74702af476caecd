//! `Runtime`: one runtime process, from init through the invocation loop.
//!
//! It owns the Runtime API client, the invocation in flight and the deadline watchdog, and
//! guarantees that every invocation gets exactly one answer: from the handler when it
//! finishes, from [`Runtime::answer_abandoned`] when PHP ends mid-invocation (`exit()`, a
//! fatal error), or from the watchdog when the deadline is near, in which case the process
//! then restarts itself so that the next invocation starts clean.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, Once, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use zeroize::Zeroizing;

use crate::cli;
use crate::context::Context;
use crate::error_response::ErrorResponse;
use crate::init::{self, InitError, Settings};
use crate::log::{Level, LogFormat};
use crate::manifest::Manifest;
use crate::output::{self, CapturedOutput};
use crate::restart::Restart;
use crate::runtime_api::{Delivery, RuntimeApiClient, RuntimeApiError};
use crate::secrets::{self, kms::AwsKms};
use crate::watchdog::Watchdog;

/// How long before Lambda's deadline a command still running is stopped, leaving time to
/// answer before Lambda kills the process.
const STOP_BEFORE_DEADLINE: Duration = Duration::from_secs(1);

/// A CLI invocation handed to the PHP side.
#[derive(Debug, Clone)]
pub struct Command {
    pub line: String,
    pub context: Context,
}

struct InFlight {
    command: Command,
    started: Instant,
    output: CapturedOutput,
}

pub struct Runtime {
    settings: Settings,
    manifest: Manifest,
    environment: Vec<(String, Zeroizing<String>)>,
    /// Whether a secrets file was loaded, whose values Laravel's config cache would hold.
    has_secrets: bool,
    log: LogFormat,
    api: RuntimeApiClient,
    restart: Restart,
    in_flight: Mutex<Option<InFlight>>,
    watchdog: Watchdog,
    watchdog_started: Once,
    /// Set once the watchdog has taken an invocation to stop it: the process is about to
    /// be replaced.
    stopping: AtomicBool,
    /// The process that booted. A child that PHP code forks shares this memory but must
    /// never answer, or restart as a second runtime.
    pid: u32,
}

impl Runtime {
    /// Native init: settings, manifest, storage directories, environment. A failure is
    /// reported to `/init/error` and stderr before it is returned.
    pub fn boot() -> Result<Self, InitError> {
        let log = LogFormat::from_setting(std::env::var("AWS_LAMBDA_LOG_FORMAT").ok().as_deref());
        Self::init(log).inspect_err(|error| {
            // Init failed before it had a client: make one if the Runtime API is known.
            let api = std::env::var("AWS_LAMBDA_RUNTIME_API")
                .ok()
                .map(|address| RuntimeApiClient::new(&address));
            let response = ErrorResponse::new(error.error_type, &error.message);
            report_init_error(log, api.as_ref(), &response);
        })
    }

    fn init(log: LogFormat) -> Result<Self, InitError> {
        let restart = Restart::capture().map_err(|error| InitError {
            error_type: "Hover.InitFailed",
            message: format!("cannot read the process's own command line: {error}"),
        })?;
        let settings = Settings::from_env(|name| std::env::var(name).ok())?;
        let manifest = Manifest::load(&settings.manifest_path())?;
        init::create_storage(&settings.storage_path)?;
        let started = Instant::now();
        let secrets = secrets::load(
            &settings.secrets_path(),
            &manifest.name,
            AwsKms::from_environment,
        )?;
        if let Some(secrets) = &secrets {
            log.write(
                Level::Info,
                None,
                &format!(
                    "secrets: {} entries from {} ({} format) decrypted in {:.1} ms",
                    secrets.entries.len(),
                    settings.secrets_path().display(),
                    secrets.format.as_str(),
                    started.elapsed().as_secs_f64() * 1000.0
                ),
            );
        }
        let environment = init::environment(
            &manifest,
            &settings.storage_path,
            secrets.as_ref().map_or(&[], |secrets| &secrets.entries[..]),
            |name| std::env::var(name).ok(),
        );
        for name in &environment.ignored {
            log.write(Level::Warn, None, &format!("manifest.json: \"environment.{name}\" is ignored: Lambda's own variables cannot be overwritten"));
        }
        for name in &environment.shadowed {
            log.write(Level::Warn, None, &format!("secrets: {name} is ignored: the manifest, the function's environment or Lambda already sets it"));
        }
        for (name, value) in &environment.variables {
            // SAFETY: `setenv` races only with another thread reading or writing the
            // environment. Init runs on PHP's only thread (the CLI SAPI does not start
            // threads), before the runtime starts its watchdog, and the KMS client's tokio
            // runtime (current-thread; its blocking pool, used for DNS, is joined on drop)
            // was dropped inside `secrets::load`, so no such thread exists. Names and
            // values were checked for `=` and NUL when the manifest and secrets were parsed.
            unsafe { std::env::set_var(name, value.as_str()) };
        }
        let api = RuntimeApiClient::new(&settings.runtime_api);
        Ok(Self {
            settings,
            manifest,
            environment: environment.variables,
            has_secrets: secrets.is_some(),
            log,
            api,
            restart,
            in_flight: Mutex::new(None),
            watchdog: Watchdog::default(),
            watchdog_started: Once::new(),
            stopping: AtomicBool::new(false),
            pid: std::process::id(),
        })
    }

    pub fn settings(&self) -> &Settings {
        &self.settings
    }

    pub fn manifest(&self) -> &Manifest {
        &self.manifest
    }

    /// The variables init exported, in the order they were set.
    pub fn environment(&self) -> &[(String, Zeroizing<String>)] {
        &self.environment
    }

    /// Whether Laravel's configuration may be cached to a file. Not when secrets were
    /// loaded: the cache would hold their values in plaintext on disk.
    pub fn may_cache_configuration(&self) -> bool {
        !self.has_secrets
    }

    pub fn log(&self, level: Level, request_id: Option<&str>, message: &str) {
        self.log.write(level, request_id, message);
    }

    /// Reports an init failure found after native init (by the PHP bootstrap).
    pub fn report_init_error(&self, error_type: &str, message: &str) {
        report_init_error(
            self.log,
            Some(&self.api),
            &ErrorResponse::new(error_type, message),
        );
    }

    /// Waits for the next CLI invocation. Events that are not CLI events are answered with
    /// an error here; the wait goes on.
    pub fn next_command(&'static self) -> Result<Command, RuntimeApiError> {
        self.watchdog_started.call_once(|| {
            thread::Builder::new()
                .name("hover-watchdog".into())
                .spawn(move || {
                    self.watchdog
                        .run(|request_id| self.stop_for_deadline(request_id))
                })
                .expect("the watchdog thread starts");
        });
        loop {
            let invocation = self.api.next_invocation().inspect_err(|error| {
                self.log
                    .write(Level::Error, None, &format!("{error}; the runtime stops"));
            })?;
            let context = invocation.context;
            export_trace_id(context.trace_id.as_deref());
            match cli::parse_event(&invocation.payload) {
                Ok(line) => {
                    let command = Command { line, context };
                    let stop_at = Instant::now()
                        + Duration::from_millis(command.context.remaining_time_ms())
                            .saturating_sub(STOP_BEFORE_DEADLINE);
                    *self.in_flight() = Some(InFlight {
                        command: command.clone(),
                        started: Instant::now(),
                        output: CapturedOutput::default(),
                    });
                    self.watchdog.arm(&command.context.request_id, stop_at);
                    return Ok(command);
                }
                Err(error) => self.answer_error(&context.request_id, &error),
            }
        }
    }

    /// Appends to the output of the command in flight, and logs its complete lines.
    pub fn capture_output(&self, bytes: &[u8]) {
        if let Some(in_flight) = self.in_flight().as_mut() {
            in_flight.output.push(bytes);
            let lines = in_flight.output.take_unlogged(false);
            self.log_output(&in_flight.command.context.request_id, lines);
        }
    }

    /// Answers the command in flight with its exit code and captured output. Returns false
    /// when `request_id` is not in flight (it was answered already), or when called in a
    /// process forked from the runtime, which never answers.
    pub fn finish_command(&self, request_id: &str, exit_code: i64) -> bool {
        if !self.is_booted_process() {
            return false;
        }
        let Some(in_flight) = self.take_in_flight(request_id, false) else {
            self.wait_while_stopping();
            return false;
        };
        self.watchdog.disarm();
        self.answer_command(in_flight, exit_code);
        true
    }

    /// Called when PHP shuts down: answers a command that ended the process (`exit()`, a
    /// fatal error) with `exit_status`. Returns whether there was one, in which case the
    /// caller restarts the process so that it keeps serving. In a process forked by the
    /// command, it does nothing: the command goes on in the parent.
    pub fn answer_abandoned(&self, exit_status: i64) -> bool {
        if !self.is_booted_process() {
            return false;
        }
        let Some(in_flight) = self.in_flight().take() else {
            self.wait_while_stopping();
            return false;
        };
        self.watchdog.disarm();
        self.log.write(
            Level::Warn,
            Some(&in_flight.command.context.request_id),
            &format!(
                "`{}` ended the PHP process with status {exit_status}; answering, then restarting",
                in_flight.command.line
            ),
        );
        self.answer_command(in_flight, exit_status);
        true
    }

    fn is_booted_process(&self) -> bool {
        std::process::id() == self.pid
    }

    /// Once the watchdog has taken the invocation in flight, it answers it and replaces the
    /// process: the main thread must then neither fetch another invocation (the restart
    /// would lose it) nor end the process (the answer would be lost). It waits here.
    fn wait_while_stopping(&self) {
        while self.stopping.load(Ordering::SeqCst) {
            thread::park();
        }
    }

    /// Replaces the process with a fresh runtime; see [`Restart`].
    pub fn restart(&self) -> ! {
        let error = self.restart.exec();
        self.log.write(
            Level::Error,
            None,
            &format!("could not restart the runtime: {error}"),
        );
        std::process::exit(1);
    }

    fn answer_command(&self, in_flight: InFlight, exit_code: i64) {
        let InFlight {
            command,
            started,
            mut output,
        } = in_flight;
        let request_id = &command.context.request_id;
        self.log_output(request_id, output.take_unlogged(true));
        self.log.write(
            Level::Info,
            Some(request_id),
            &format!(
                "`{}` exited with {exit_code} in {} ms",
                command.line,
                started.elapsed().as_millis()
            ),
        );
        if output.overflowed() {
            let error = ErrorResponse::new(
                "Hover.ResponseTooLarge",
                format!(
                    "`{}` wrote {} bytes of output, more than a Lambda response can carry; the first {} bytes are in the log",
                    command.line,
                    output.total_len(),
                    output::LIMIT
                ),
            );
            return self.answer_error(request_id, &error);
        }
        let body = cli::response(exit_code, output.kept());
        match self.api.send_response(request_id, &body) {
            Ok(Delivery::Accepted) => {}
            Ok(Delivery::TooLarge(answer)) => {
                let error = ErrorResponse::new(
                    "Hover.ResponseTooLarge",
                    format!(
                        "the response is {} bytes, more than Lambda accepts: {answer}",
                        body.len()
                    ),
                );
                self.answer_error(request_id, &error);
            }
            Err(failure) => self.log.write(
                Level::Error,
                Some(request_id),
                &format!("could not send the response: {failure}"),
            ),
        }
    }

    /// Logs output, a record a line, blank lines left out.
    fn log_output(&self, request_id: &str, output: &[u8]) {
        for line in String::from_utf8_lossy(output).lines() {
            if !line.trim().is_empty() {
                self.log.write(Level::Info, Some(request_id), line);
            }
        }
    }

    fn answer_error(&self, request_id: &str, error: &ErrorResponse) {
        self.log.write(
            Level::Error,
            Some(request_id),
            &format!("{}: {}", error.error_type, error.error_message),
        );
        match self.api.send_error(request_id, error) {
            Ok(()) => {}
            // Lambda has closed the invocation already (it failed it itself on a 413, or
            // timed it out): it has had its one answer.
            Err(RuntimeApiError::Rejected {
                status: 403, body, ..
            }) => self.log.write(
                Level::Warn,
                Some(request_id),
                &format!("Lambda no longer takes an answer for this invocation: {body}"),
            ),
            Err(failure) => self.log.write(
                Level::Error,
                Some(request_id),
                &format!("could not send the error: {failure}"),
            ),
        }
    }

    /// The watchdog's alarm: answers the invocation with a timeout error, then restarts.
    fn stop_for_deadline(&self, request_id: &str) {
        let Some(InFlight {
            command,
            started,
            mut output,
        }) = self.take_in_flight(request_id, true)
        else {
            return;
        };
        self.log_output(request_id, output.take_unlogged(true));
        let error = ErrorResponse::new(
            "Hover.CommandTimeout",
            format!(
                "`{}` was still running {} s before the invocation's deadline, after {} ms; it was stopped and the runtime restarted",
                command.line,
                STOP_BEFORE_DEADLINE.as_secs(),
                started.elapsed().as_millis()
            ),
        );
        self.answer_error(request_id, &error);
        self.restart();
    }

    /// Takes the invocation in flight if it is `request_id`. With `stopping`, marks the
    /// process as about to restart in the same critical section, so that whoever finds the
    /// slot empty afterwards also finds the mark.
    fn take_in_flight(&self, request_id: &str, stopping: bool) -> Option<InFlight> {
        let mut slot = self.in_flight();
        if slot.as_ref()?.command.context.request_id != request_id {
            return None;
        }
        if stopping {
            self.stopping.store(true, Ordering::SeqCst);
        }
        slot.take()
    }

    fn in_flight(&self) -> MutexGuard<'_, Option<InFlight>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

/// Sets `_X_AMZN_TRACE_ID` for this invocation, as Lambda's own runtimes do, and clears
/// a stale one when the invocation has none.
pub fn export_trace_id(trace_id: Option<&str>) {
    // SAFETY: `setenv` races only with another thread touching the environment. The only
    // other thread, the watchdog, never reads the environment (its restart uses the
    // environment captured at init), and PHP's CLI SAPI runs no threads of its own.
    unsafe {
        match trace_id {
            Some(trace_id) if !trace_id.contains('\0') => {
                std::env::set_var("_X_AMZN_TRACE_ID", trace_id)
            }
            _ => std::env::remove_var("_X_AMZN_TRACE_ID"),
        }
    }
}

/// Logs an init failure and reports it to `/init/error` when the Runtime API is known.
fn report_init_error(log: LogFormat, api: Option<&RuntimeApiClient>, error: &ErrorResponse) {
    log.write(
        Level::Error,
        None,
        &format!("{}: {}", error.error_type, error.error_message),
    );
    if let Some(Err(failure)) = api.map(|api| api.send_init_error(error)) {
        log.write(
            Level::Error,
            None,
            &format!("could not report the init error: {failure}"),
        );
    }
}
