//! `Hover\Runtime`: native init and the wait for the next invocation.
//!
//! The runtime lives for the whole process (one per process, booted once), so PHP objects
//! hold a `&'static` reference to it.

// PHP names parameters after the Rust ones, and named arguments use those names: they are
// PHP's camelCase (`$errorType`), not Rust's snake_case. (The attribute must be on the
// module: ext-php-rs re-emits the methods outside an attribute on the impl block.)
#![allow(non_snake_case)]

use std::panic::catch_unwind;
use std::sync::OnceLock;

use ext_php_rs::boxed::ZBox;
use ext_php_rs::flags::ClassFlags;
use ext_php_rs::prelude::*;
use ext_php_rs::types::{ZendCallable, ZendHashTable};
use ext_php_rs::zend::ce;
use hover_core::cli;
use hover_core::log::Level;
use hover_core::runtime::{HttpStopped, Runtime};

use crate::cli_invocation::PhpCliInvocation;
use crate::panic_message;
use crate::queue_batch::PhpQueueBatch;

static RUNTIME: OnceLock<Runtime> = OnceLock::new();

/// The runtime, once `Hover\Runtime::boot()` has succeeded in this process.
pub(crate) fn booted() -> Option<&'static Runtime> {
    RUNTIME.get()
}

/// Thrown by `Hover\Runtime::boot()`; the failure has already gone to `/init/error`.
#[php_class]
#[php(name = "Hover\\InitException")]
#[php(extends(ce = ce::exception, stub = "\\Exception"))]
#[derive(Default)]
pub struct InitException;

/// Thrown when the Lambda Runtime API cannot be used any more: the process should end.
#[php_class]
#[php(name = "Hover\\RuntimeApiException")]
#[php(extends(ce = ce::exception, stub = "\\Exception"))]
#[derive(Default)]
pub struct RuntimeApiException;

#[php_class]
#[php(name = "Hover\\Runtime")]
#[php(flags = ClassFlags::Final)]
pub struct PhpRuntime {
    runtime: &'static Runtime,
}

#[php_impl]
impl PhpRuntime {
    /// Native init, once per process: settings, manifest, storage directories, secrets and
    /// the environment (`getenv()`). Throws `Hover\InitException` after reporting to
    /// `/init/error`.
    pub fn boot() -> PhpResult<Self> {
        if let Some(runtime) = booted() {
            return Ok(Self { runtime });
        }
        let php_version = php_version();
        let runtime = match catch_unwind(|| Runtime::boot(&php_version)) {
            Ok(Ok(runtime)) => runtime,
            Ok(Err(error)) => {
                return Err(PhpException::from_class::<InitException>(format!(
                    "{}: {}",
                    error.kind.code(),
                    error.message
                )));
            }
            Err(panic) => {
                // Last resort: a bug in init is still reported as an init error.
                let message = format!("init failed: {}", panic_message(&*panic));
                Runtime::report_init_panic(&message);
                return Err(PhpException::from_class::<InitException>(format!(
                    "Hover.InternalError: {message}"
                )));
            }
        };
        Ok(Self {
            runtime: RUNTIME.get_or_init(|| runtime),
        })
    }

    /// `http`, `cli` or `queue`.
    pub fn function_type(&self) -> &'static str {
        self.runtime.settings().function_type.as_str()
    }

    pub fn task_root(&self) -> String {
        self.runtime
            .settings()
            .task_root
            .to_string_lossy()
            .into_owned()
    }

    pub fn runtime_dir(&self) -> String {
        self.runtime
            .settings()
            .runtime_dir
            .to_string_lossy()
            .into_owned()
    }

    pub fn storage_path(&self) -> String {
        self.runtime
            .settings()
            .storage_path
            .to_string_lossy()
            .into_owned()
    }

    /// The manifest's `name`.
    pub fn app_name(&self) -> String {
        self.runtime.manifest().name.clone()
    }

    /// Whether Laravel's configuration should be cached to a file now: on a first start (a
    /// process restarted in place has its cache already).
    pub fn should_cache_configuration(&self) -> bool {
        self.runtime.should_cache_configuration()
    }

    /// The names of the variables whose values the config cache must not hold: the ones
    /// the secrets file set, and Lambda's credentials (`AWS_SECRET_ACCESS_KEY`, …).
    pub fn secret_names(&self) -> Vec<String> {
        self.runtime.secret_names().to_vec()
    }

    /// Whether a secrets file was loaded.
    pub fn has_secrets(&self) -> bool {
        self.runtime.has_secrets()
    }

    /// The variables init exported, for the bootstrap to copy into `$_ENV` and `$_SERVER`.
    pub fn environment(&self) -> PhpResult<ZBox<ZendHashTable>> {
        let mut variables = ZendHashTable::new();
        for (name, value) in self.runtime.environment() {
            variables.insert(name.as_str(), value.as_str())?;
        }
        Ok(variables)
    }

    /// Writes a warning to the log (stderr), in the runtime's log format.
    pub fn log_warning(&self, message: String) {
        self.runtime.log(Level::Warn, None, &message);
    }

    /// Reports a failure of the PHP side of init (building the application) to `/init/error`.
    pub fn report_init_error(&self, errorType: String, message: String) {
        self.runtime.report_init_error(&errorType, &message);
    }

    /// Serves HTTP invocations through php-fpm, which runs `frontController` for each,
    /// until the Runtime API fails (`Hover\\RuntimeApiException`) or php-fpm never gets
    /// ready (`Hover\\InitException`, reported to `/init/error`). Init ends here.
    pub fn serve_http(&self, frontController: String) -> PhpResult<()> {
        match self.runtime.serve_http(&frontController) {
            HttpStopped::InitFailed => Err(PhpException::from_class::<InitException>(
                "php-fpm did not start".to_owned(),
            )),
            HttpStopped::RuntimeApi(error) => {
                self.runtime
                    .log(Level::Error, None, &format!("{error}; the runtime stops"));
                Err(PhpException::from_class::<RuntimeApiException>(
                    error.to_string(),
                ))
            }
        }
    }

    /// A queue function's worker settings from its manifest entry: `name`, and `tries`,
    /// `backoff`, `timeout`, `memory` where the entry sets them. Empty in other types.
    pub fn queue_settings(&self) -> PhpResult<ZBox<ZendHashTable>> {
        let mut settings = ZendHashTable::new();
        if let Some(queue) = self.runtime.queue_settings() {
            settings.insert("name", queue.name.as_str())?;
            for (name, value) in [
                ("tries", queue.tries),
                ("timeout", queue.timeout),
                ("memory", queue.memory),
            ] {
                if let Some(value) = value {
                    settings.insert(name, i64::from(value))?;
                }
            }
            if let Some(backoff) = &queue.backoff {
                settings.insert("backoff", backoff.as_str())?;
            }
        }
        Ok(settings)
    }

    /// Waits for the next SQS batch; malformed events are answered natively meanwhile.
    /// The first call ends init.
    pub fn next_batch(&self) -> PhpResult<PhpQueueBatch> {
        let batch = self.runtime.next_batch().map_err(|error| {
            self.runtime
                .log(Level::Error, None, &format!("{error}; the runtime stops"));
            PhpException::from_class::<RuntimeApiException>(error.to_string())
        })?;
        Ok(PhpQueueBatch::new(self.runtime, batch))
    }

    /// Waits for the next CLI invocation; malformed events are answered natively meanwhile.
    /// The first call ends init: from then on, PHP's end answers the invocation in flight
    /// instead of reporting an init error.
    pub fn next_command(&self) -> PhpResult<PhpCliInvocation> {
        self.runtime.serve();
        let command = cli::next_command(self.runtime.invocations()).map_err(|error| {
            self.runtime
                .log(Level::Error, None, &format!("{error}; the runtime stops"));
            PhpException::from_class::<RuntimeApiException>(error.to_string())
        })?;
        Ok(PhpCliInvocation::new(self.runtime, command))
    }
}

/// The running PHP's `major.minor` (php-fpm's must be the same), from `phpversion()`.
fn php_version() -> String {
    let full = ZendCallable::try_from_name("phpversion")
        .ok()
        .and_then(|phpversion| phpversion.try_call(vec![]).ok())
        .and_then(|version| version.string())
        .unwrap_or_default();
    full.split('.').take(2).collect::<Vec<_>>().join(".")
}
