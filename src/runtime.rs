//! `Hover\Runtime`: native init and the wait for the next invocation.
//!
//! The runtime lives for the whole process (one per process, booted once), so PHP objects
//! hold a `&'static` reference to it.

use std::sync::OnceLock;

use ext_php_rs::boxed::ZBox;
use ext_php_rs::flags::ClassFlags;
use ext_php_rs::prelude::*;
use ext_php_rs::types::ZendHashTable;
use ext_php_rs::zend::ce;
use hover_core::log::Level;
use hover_core::runtime::Runtime;

use crate::cli_invocation::PhpCliInvocation;

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
    /// Native init, once per process: settings, manifest, storage directories and the
    /// environment (`getenv()`). Throws `Hover\InitException` after reporting to `/init/error`.
    pub fn boot() -> PhpResult<Self> {
        if let Some(runtime) = booted() {
            return Ok(Self { runtime });
        }
        let runtime = Runtime::boot().map_err(|error| {
            PhpException::from_class::<InitException>(format!(
                "{}: {}",
                error.error_type, error.message
            ))
        })?;
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

    /// Whether Laravel's configuration may be cached to a file: not when secrets were
    /// loaded, since the cache would hold them in plaintext on disk.
    pub fn may_cache_configuration(&self) -> bool {
        self.runtime.may_cache_configuration()
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
    pub fn report_init_error(&self, error_type: String, message: String) {
        self.runtime.report_init_error(&error_type, &message);
    }

    /// Waits for the next CLI invocation; malformed events are answered natively meanwhile.
    pub fn next_command(&self) -> PhpResult<PhpCliInvocation> {
        let command = self
            .runtime
            .next_command()
            .map_err(|error| PhpException::from_class::<RuntimeApiException>(error.to_string()))?;
        Ok(PhpCliInvocation::new(self.runtime, command))
    }
}
