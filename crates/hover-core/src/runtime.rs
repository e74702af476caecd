//! `Runtime`: one runtime process, from init through the invocation loop, whatever its
//! function type.
//!
//! It holds what init settled and the invocation core, and decides what PHP's end means:
//! during init, an init error to report (an `exit()` in a config file, a fatal error while
//! the application boots); during an invocation, an answer for it and a restart in place;
//! otherwise nothing.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, OnceLock, PoisonError};

use zeroize::Zeroizing;

use crate::cli;
use crate::error_response::{ErrorResponse, ErrorType};
use crate::function_type::FunctionType;
use crate::http::{HttpFunction, Script};
use crate::init::{self, InitError, InitErrorKind, Settings, Settled};
use crate::invocation::{Finish, Invocations, SystemClock};
use crate::log::{Level, LogFormat};
use crate::manifest::Manifest;
use crate::process;
use crate::queue::output::JobOutput;
use crate::queue::watcher::Watcher;
use crate::queue::{
    self, function::BatchInFlight, settings::QueueSettings, visibility::Visibility,
};
use crate::restart::{Handoff, ProcessIdentity, Restart};
use crate::runtime_api::{RuntimeApiClient, RuntimeApiError};

pub struct Runtime {
    settings: Settings,
    manifest: Manifest,
    environment: Vec<(String, Zeroizing<String>)>,
    has_secrets: bool,
    secret_names: Vec<String>,
    log: LogFormat,
    restart: Restart,
    restarted: Option<u32>,
    invocations: Invocations,
    /// Set when the loop asks for its first invocation: init is over.
    serving: AtomicBool,
    /// Set once an init error went out, so that PHP's end does not report another.
    init_error_reported: AtomicBool,
    /// An HTTP function's php-fpm, started at boot.
    http: Mutex<Option<HttpFunction>>,
    /// A queue function's worker settings, from its manifest entry.
    queue_settings: Option<QueueSettings>,
    /// The SQS client of a queue function's releases, made on the first one.
    visibility: Mutex<Visibility>,
    /// A queue function's deadline watcher, started with the first batch.
    watcher: OnceLock<Option<Watcher>>,
    /// A queue function's relay of its jobs' output to the log, started with the first
    /// batch.
    job_output: OnceLock<Option<JobOutput>>,
}

/// Why [`Runtime::serve_http`] stopped serving.
#[derive(Debug)]
pub enum HttpStopped {
    /// Init failed (php-fpm never became ready); it was reported to `/init/error`.
    InitFailed,
    /// The Runtime API failed.
    RuntimeApi(RuntimeApiError),
}

/// What the process does after PHP's end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AfterPhp {
    /// End as PHP intended.
    Exit,
    /// Restart in place: an invocation was cut short, and it has been answered.
    Restart,
    /// End now with this status: a command's process whose shutdown functions,
    /// destructors and output are done, with only the freeing of memory left.
    ExitNow(i32),
}

impl Runtime {
    /// Native init. A failure is logged and, on a first start, reported to `/init/error`
    /// before it is returned; a process restarted in place only logs it (Lambda took its
    /// init long ago), and ends.
    ///
    /// An HTTP function's php-fpm is started here, once the environment is set (its
    /// workers inherit it), without waiting for it: it gets ready while the application
    /// boots. `php_version` is the running PHP's `major.minor`, which php-fpm's must match.
    pub fn boot(php_version: &str) -> Result<Self, InitError> {
        let log = log_format();
        let restarting = init::is_restart();
        let report = |error: &InitError| {
            report_boot_failure(
                log,
                restarting,
                &ErrorResponse::named(error.kind.code(), &error.message),
            );
        };
        let settled = init::run(log).inspect_err(report)?;
        let http = match settled.settings.function_type {
            FunctionType::Http => Some(
                HttpFunction::start(&settled.settings.runtime_dir, php_version, log)
                    .map_err(|error| {
                        InitError::new(
                            InitErrorKind::PhpFpm,
                            format!("php-fpm could not be started: {error}"),
                        )
                    })
                    .inspect_err(report)?,
            ),
            _ => None,
        };
        let runtime = Self::new(settled);
        *runtime.http_function() = http;
        Ok(runtime)
    }

    /// Reports a panic of init as an init error, as [`Runtime::boot`] reports a failure.
    pub fn report_init_panic(message: &str) {
        let error = ErrorResponse::new(ErrorType::InternalError, message);
        report_boot_failure(log_format(), init::is_restart(), &error);
    }

    fn new(settled: Settled) -> Self {
        let Settled {
            settings,
            manifest,
            environment,
            has_secrets,
            secret_names,
            log,
            api,
            restart,
            restarted,
            queue,
        } = settled;
        Self {
            settings,
            manifest,
            environment,
            has_secrets,
            secret_names,
            log,
            restart,
            restarted,
            invocations: Invocations::new(api, Box::new(SystemClock), log),
            serving: AtomicBool::new(false),
            init_error_reported: AtomicBool::new(false),
            http: Mutex::new(None),
            queue_settings: queue,
            visibility: Mutex::new(Visibility::new()),
            watcher: OnceLock::new(),
            job_output: OnceLock::new(),
        }
    }

    fn http_function(&self) -> std::sync::MutexGuard<'_, Option<HttpFunction>> {
        self.http.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Serves HTTP invocations through php-fpm, with `front_controller` as the script
    /// php-fpm runs, until the Runtime API fails. Waits for php-fpm first: if it never
    /// gets ready, that is reported as an init error.
    pub fn serve_http(&self, front_controller: &str) -> HttpStopped {
        let mut http = self.http_function();
        let Some(function) = http.as_mut() else {
            self.report_init_error(
                ErrorType::InternalError.code(),
                "serve_http was called in a function that is not an HTTP function",
            );
            return HttpStopped::InitFailed;
        };
        if let Err(error) = function.wait_ready() {
            self.report_init_error(
                InitErrorKind::PhpFpm.code(),
                &format!("php-fpm did not start: {error}"),
            );
            function.stop();
            return HttpStopped::InitFailed;
        }
        self.serve();
        let script = Script {
            filename: front_controller.to_owned(),
            document_root: self.public_directory(),
            storage_path: self.settings.storage_path.to_string_lossy().into_owned(),
        };
        let error = function.serve(&self.invocations, &script);
        function.stop();
        HttpStopped::RuntimeApi(error)
    }

    /// A queue function's worker settings (`None` in other function types).
    pub fn queue_settings(&self) -> Option<&QueueSettings> {
        self.queue_settings.as_ref()
    }

    /// Waits for the next SQS batch (malformed events are answered meanwhile) and puts it
    /// in flight. Should a job hang past the batch's stop point, its watcher answers and the
    /// runtime restarts in place. The first call ends init.
    pub fn next_batch(&'static self) -> Result<BatchInFlight, RuntimeApiError> {
        self.serve();
        process::reap_ended_children();
        let watcher = self
            .watcher
            .get_or_init(|| queue::function::start_watcher(&self.invocations, || self.restart()))
            .as_ref();
        let job_output = self
            .job_output
            .get_or_init(|| {
                JobOutput::capture(self.log)
                    .inspect_err(|error| {
                        self.log.write(
                            Level::Warn,
                            None,
                            &format!("jobs' output goes to stderr as it is: {error}"),
                        );
                    })
                    .ok()
            })
            .as_ref();
        let threads = 1 + usize::from(watcher.is_some()) + usize::from(job_output.is_some());
        let batch = queue::function::next_batch(&self.invocations, watcher, threads)?;
        if let Some(job_output) = job_output {
            job_output.attribute_to(&batch.context.request_id);
        }
        Ok(batch)
    }

    /// Answers `batch` (see [`BatchInFlight::answer`]) once its jobs' output is in the log;
    /// with `then_restart`, then restarts in place.
    pub fn answer_batch(&self, batch: BatchInFlight, then_restart: bool) -> Finish {
        if let Some(Some(job_output)) = self.job_output.get() {
            job_output.flush();
        }
        let finish = batch.answer(&self.invocations);
        if then_restart && finish == Finish::Answered {
            self.restart();
        }
        finish
    }

    /// Releases the record at `index` of `batch` for `delay` seconds; see
    /// [`BatchInFlight::release`]. A failure is logged.
    pub fn release(&self, batch: &BatchInFlight, index: usize, delay: u64) -> bool {
        let mut visibility = self
            .visibility
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        match batch.release(&self.invocations, &mut visibility, index, delay) {
            Ok(_) => true,
            Err(error) => {
                self.log.write(
                    Level::Error,
                    Some(&batch.context.request_id),
                    &format!(
                        "the job of message {} was released, but its visibility could not be set: {error}; it comes back when the queue's visibility timeout ends",
                        batch.messages[index].message_id
                    ),
                );
                false
            }
        }
    }

    /// The application's `public/` directory, php-fpm's document root.
    fn public_directory(&self) -> String {
        let public: PathBuf = self.settings.task_root.join("public");
        public.to_string_lossy().into_owned()
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

    /// Whether Laravel's configuration should be cached to a file now: on a first start.
    /// A process restarted in place has the cache its first start made.
    pub fn should_cache_configuration(&self) -> bool {
        self.restarted.is_none()
    }

    /// The variables whose values the config cache must not hold: the ones the secrets file
    /// set, and Lambda's credentials.
    pub fn secret_names(&self) -> &[String] {
        &self.secret_names
    }

    /// Whether a secrets file was loaded.
    pub fn has_secrets(&self) -> bool {
        self.has_secrets
    }

    pub fn log(&self, level: Level, request_id: Option<&str>, message: &str) {
        self.log.write(level, request_id, message);
    }

    /// The invocation core, for the function types.
    pub fn invocations(&self) -> &Invocations {
        &self.invocations
    }

    /// Marks init as over; called before each wait for an invocation.
    pub fn serve(&self) {
        if !self.serving.swap(true, Ordering::SeqCst)
            && let Err(error) = process::become_runtime()
        {
            self.log.write(
                Level::Warn,
                None,
                &format!("cannot become the reaper of what commands leave behind: {error}"),
            );
        }
    }

    /// Reports an init failure found after native init (by the PHP bootstrap), once.
    pub fn report_init_error(&self, error_type: &str, message: &str) {
        if self.init_error_reported.swap(true, Ordering::SeqCst) {
            return;
        }
        let api = self.restarted.is_none().then(|| self.invocations.api());
        report_init_error(self.log, api, &ErrorResponse::named(error_type, message));
    }

    /// PHP is ending this process with `exit_status`; `fatal_error` is PHP's last error if
    /// it was fatal. Says what the process does next.
    pub fn php_ended(&self, exit_status: i64, fatal_error: Option<&str>) -> AfterPhp {
        if process::is_command_process() {
            // As the kernel reports it: 256 is 0, -1 is 255.
            return AfterPhp::ExitNow((exit_status & 0xff) as i32);
        }
        if !self.invocations.is_runtime_process() {
            return AfterPhp::Exit;
        }
        if !self.serving.load(Ordering::SeqCst) {
            let (error_type, message) = match fatal_error {
                Some(error) => (
                    ErrorType::InitFatalError,
                    format!("PHP stopped with a fatal error while the application booted: {error}"),
                ),
                None => (
                    ErrorType::InitExited,
                    format!(
                        "PHP exited with status {exit_status} while the application booted (exit() or die in bootstrap/app.php, a service provider or a config file)"
                    ),
                ),
            };
            self.report_init_error(error_type.code(), &message);
            return AfterPhp::Exit;
        }
        if self.invocations.abandon(exit_status) {
            self.log.write(
                Level::Warn,
                None,
                &format!("PHP ended with status {exit_status} during an invocation; the runtime restarts in place"),
            );
            return AfterPhp::Restart;
        }
        AfterPhp::Exit
    }

    /// Replaces the process with a fresh runtime image that takes over what init settled.
    pub fn restart(&self) -> ! {
        // The new image would not know the spare, nor the processes left to reap: the
        // spare goes, and they are reaped, now.
        cli::spare::discard();
        if let Ok(mut http) = self.http.try_lock()
            && let Some(function) = http.as_mut()
        {
            function.stop();
        }
        if let Some(Some(job_output)) = self.job_output.get() {
            job_output.drain();
        }
        process::reap_finished(true);
        let handoff = ProcessIdentity::current().map(|process| Handoff {
            process,
            restarts: self.restarted.map_or(0, |restarts| restarts + 1),
            has_secrets: self.has_secrets,
            exported: self
                .environment
                .iter()
                .map(|(name, _)| name.clone())
                .collect(),
        });
        let error = match handoff {
            Ok(handoff) => self.restart.exec(&handoff),
            Err(error) => error,
        };
        self.log.write(
            Level::Error,
            None,
            &format!("could not restart the runtime: {error}"),
        );
        std::process::exit(1);
    }
}

/// The log format `AWS_LAMBDA_LOG_FORMAT` asks for.
fn log_format() -> LogFormat {
    LogFormat::from_setting(std::env::var("AWS_LAMBDA_LOG_FORMAT").ok().as_deref())
}

/// Reports a failure of native init, before there is a runtime: to `/init/error` on a
/// first start when the Runtime API is known, to the log only after a restart in place.
fn report_boot_failure(log: LogFormat, restarting: bool, error: &ErrorResponse) {
    let api = (!restarting)
        .then(|| std::env::var("AWS_LAMBDA_RUNTIME_API").ok())
        .flatten()
        .map(|address| RuntimeApiClient::new(&address));
    report_init_error(log, api.as_ref(), error);
}

/// Logs an init failure and reports it to `/init/error` when there is a client.
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
