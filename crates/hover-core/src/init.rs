//! Init: everything the runtime settles natively before Laravel boots, as one step.
//!
//! Where the application and the runtime files are, which function type this is, the
//! storage directories Laravel writes to (Lambda's only writable place is `/tmp`), the
//! secrets, and the environment the application sees; [`run`] returns all of it as a
//! [`Settled`]. Each failure is an [`InitError`] for `/init/error`. In a process restarted
//! in place ([`crate::restart`]), init takes over what the first start settled instead of
//! doing it again: no KMS call, no environment to build.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Instant;

use zeroize::Zeroizing;

use crate::dotenv::{self, Entry};
use crate::function_type::FunctionType;
use crate::log::{Level, LogFormat};
use crate::manifest::{Manifest, ManifestError};
use crate::process;
use crate::queue::settings::QueueSettings;
use crate::restart::{HANDOFF_VARIABLE, Handoff, Restart};
use crate::runtime_api::RuntimeApiClient;
use crate::secrets::{self, SecretsError, SecretsErrorKind, aws_kms::AwsKms};

/// Why init failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InitErrorKind {
    /// `AWS_LAMBDA_RUNTIME_API` is not set.
    NoRuntimeApi,
    /// Neither the function name nor `HOVER_FUNCTION_TYPE` says http, cli or queue.
    UnknownFunctionType,
    InvalidManifest,
    StorageUnavailable,
    /// Another thread runs while init must change the environment.
    UnsafeThreads,
    /// The process cannot read what a restart needs (`/proc/self`).
    ProcessUnreadable,
    /// The secrets file failed, in this way.
    Secrets(SecretsErrorKind),
    /// php-fpm could not be started, or never accepted connections.
    PhpFpm,
}

impl InitErrorKind {
    /// The error type Lambda reports, in AWS's `Category.Reason` form.
    pub fn code(self) -> &'static str {
        match self {
            Self::NoRuntimeApi => "Hover.NoRuntimeApi",
            Self::UnknownFunctionType => "Hover.UnknownFunctionType",
            Self::InvalidManifest => "Hover.InvalidManifest",
            Self::StorageUnavailable => "Hover.StorageUnavailable",
            Self::UnsafeThreads => "Hover.UnsafeThreads",
            Self::ProcessUnreadable => "Hover.InitFailed",
            Self::Secrets(kind) => kind.error_type(),
            Self::PhpFpm => "Hover.PhpFpmFailed",
        }
    }
}

/// A failed init, reported to `/init/error` and stderr before the process exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitError {
    pub kind: InitErrorKind,
    pub message: String,
}

impl InitError {
    pub fn new(kind: InitErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }
}

impl From<ManifestError> for InitError {
    fn from(ManifestError(message): ManifestError) -> Self {
        Self::new(InitErrorKind::InvalidManifest, message)
    }
}

impl From<SecretsError> for InitError {
    fn from(error: SecretsError) -> Self {
        Self::new(InitErrorKind::Secrets(error.kind), error.message)
    }
}

/// Exported variables, names and values, in the order they are set; values may be secrets.
pub type Variables = Vec<(String, Zeroizing<String>)>;

/// What init settled, for the rest of the process's life.
pub struct Settled {
    pub settings: Settings,
    pub manifest: Manifest,
    /// The variables init exported.
    pub environment: Variables,
    /// Whether a secrets file was loaded, whose values Laravel's config cache would hold.
    pub has_secrets: bool,
    /// The variables whose values are secrets: the ones the secrets file set, and Lambda's
    /// credentials (on a first start; a restart does not need them).
    pub secret_names: Vec<String>,
    pub log: LogFormat,
    pub api: RuntimeApiClient,
    /// How to restart in place, with the environment as init left it.
    pub restart: Restart,
    /// `None` on a first start; after a restart in place, how many restarts came before.
    pub restarted: Option<u32>,
    /// A queue function's worker settings, from its manifest entry.
    pub queue: Option<QueueSettings>,
}

/// The variables that hold the function role's credentials in Lambda: secrets, which
/// Laravel's configuration reads (`env('AWS_SECRET_ACCESS_KEY')` in the default `queue`,
/// `filesystems`, `services` and `cache` configs), so the configuration cache must not
/// hold their values either.
const LAMBDA_CREDENTIALS: [&str; 3] = [
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
];

/// Whether this process is a restart in place (its image was handed a [`Handoff`]).
pub fn is_restart() -> bool {
    std::env::var(HANDOFF_VARIABLE)
        .ok()
        .and_then(|text| Handoff::for_this_process(&text))
        .is_some()
}

/// Runs init: settings, manifest, storage, secrets and environment, or, in a process
/// restarted in place, takes over what the first start settled.
pub fn run(log: LogFormat) -> Result<Settled, InitError> {
    crate::log::keep_stdio();
    let settings = Settings::from_env(|name| std::env::var(name).ok())?;
    let manifest = Manifest::load(&settings.manifest_path())?;
    let queue = match settings.function_type {
        FunctionType::Queue => Some(
            QueueSettings::for_function(
                &manifest.name,
                manifest.queue.as_ref(),
                settings.function_name.as_deref(),
            )
            .map_err(|problem| {
                InitError::new(
                    InitErrorKind::InvalidManifest,
                    format!("{}: {problem}", settings.manifest_path().display()),
                )
            })?,
        ),
        _ => None,
    };
    create_storage(&settings.storage_path)?;
    let handoff = std::env::var(HANDOFF_VARIABLE)
        .ok()
        .map(|text| Handoff::for_this_process(&text));
    let (environment, secret_names, has_secrets, restarted) = match handoff {
        Some(Some(handoff)) => {
            let variables = handoff
                .exported
                .into_iter()
                .filter_map(|name| {
                    let value = std::env::var(&name).ok()?;
                    Some((name, Zeroizing::new(value)))
                })
                .collect();
            set_environment(&[], true)?;
            log.write(
                Level::Info,
                None,
                &format!(
                    "the runtime restarted in place (restart {})",
                    handoff.restarts + 1
                ),
            );
            (
                variables,
                Vec::new(),
                handoff.has_secrets,
                Some(handoff.restarts),
            )
        }
        // Absent, or set by something other than this process's previous image: a first
        // start, and the stray variable goes.
        other => {
            let (variables, mut secret_names, has_secrets) =
                first_environment(&settings, &manifest, log)?;
            secret_names.extend(
                LAMBDA_CREDENTIALS
                    .iter()
                    .filter(|name| std::env::var_os(name).is_some())
                    .map(|name| (*name).to_owned()),
            );
            set_environment(&variables, other.is_some())?;
            (variables, secret_names, has_secrets, None)
        }
    };
    let restart = Restart::capture().map_err(|error| {
        InitError::new(
            InitErrorKind::ProcessUnreadable,
            format!("cannot read the process's own command line: {error}"),
        )
    })?;
    let api = RuntimeApiClient::new(&settings.runtime_api);
    Ok(Settled {
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
    })
}

/// Decrypts the secrets, if any, and layers the environment of a first start.
fn first_environment(
    settings: &Settings,
    manifest: &Manifest,
    log: LogFormat,
) -> Result<(Variables, Vec<String>, bool), InitError> {
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
    let layered = environment(
        manifest,
        &settings.storage_path,
        secrets.as_ref().map_or(&[], |secrets| &secrets.entries[..]),
        |name| std::env::var(name).ok(),
    );
    for name in &layered.ignored {
        log.write(Level::Warn, None, &format!("manifest.json: \"environment.{name}\" is ignored: Lambda's own variables cannot be overwritten"));
    }
    for name in &layered.shadowed {
        log.write(Level::Warn, None, &format!("secrets: {name} is ignored: the manifest, the function's environment or Lambda already sets it"));
    }
    for (name, line) in &layered.overgrown {
        log.write(Level::Warn, None, &format!("secrets: line {line}: {name}: its ${{…}} references are left as written: with the environment's values it would grow past {} bytes", dotenv::MAX_RESOLVED_LEN));
    }
    Ok((layered.variables, layered.secret_names, secrets.is_some()))
}

/// Sets `variables` in the process environment, and removes the restart handoff when
/// `remove_handoff`.
fn set_environment(
    variables: &[(String, Zeroizing<String>)],
    remove_handoff: bool,
) -> Result<(), InitError> {
    let threads = process::thread_count().map_err(|error| {
        InitError::new(
            InitErrorKind::ProcessUnreadable,
            format!("cannot count the process's threads: {error}"),
        )
    })?;
    if threads != 1 {
        return Err(InitError::new(
            InitErrorKind::UnsafeThreads,
            format!(
                "init must set the environment while the runtime runs alone, but {threads} threads run ({}): a PHP extension started them; disable it for the runtime",
                process::thread_names().join(", ")
            ),
        ));
    }
    for (name, value) in variables {
        // SAFETY: `setenv` is unsound only if another thread reads or writes the
        // environment meanwhile. This process runs one thread: counted just above (which
        // also proves the KMS client's runtime left no thread behind), and nothing between
        // that count and these writes starts one. Names and values cannot make `set_var`
        // panic: the manifest and dotenv parsers refuse `=` in names and NUL anywhere.
        unsafe { std::env::set_var(name, value.as_str()) };
    }
    if remove_handoff {
        // SAFETY: as above, this process runs one thread.
        unsafe { std::env::remove_var(HANDOFF_VARIABLE) };
    }
    Ok(())
}

/// Where things are and what to serve, from Lambda's variables and Hover's overrides.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    /// `LAMBDA_TASK_ROOT`: the Laravel application.
    pub task_root: PathBuf,
    /// `HOVER_RUNTIME_DIR`, else `<task root>/hover_runtime`: manifest and secrets.
    pub runtime_dir: PathBuf,
    /// `HOVER_STORAGE_PATH`, else `/tmp/storage`: Laravel's storage path.
    pub storage_path: PathBuf,
    pub function_type: FunctionType,
    /// `AWS_LAMBDA_FUNCTION_NAME`: a queue function finds its manifest entry by it.
    pub function_name: Option<String>,
    /// `AWS_LAMBDA_RUNTIME_API`: host and port of the Runtime API.
    pub runtime_api: String,
}

impl Settings {
    /// Reads the settings through `var`, which looks up one environment variable.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, InitError> {
        let runtime_api = var("AWS_LAMBDA_RUNTIME_API").ok_or_else(|| {
            InitError::new(
                InitErrorKind::NoRuntimeApi,
                "AWS_LAMBDA_RUNTIME_API is not set: run the runtime under Lambda or the Runtime Interface Emulator",
            )
        })?;
        let task_root =
            PathBuf::from(var("LAMBDA_TASK_ROOT").unwrap_or_else(|| "/var/task".into()));
        let runtime_dir =
            var("HOVER_RUNTIME_DIR").map_or_else(|| task_root.join("hover_runtime"), PathBuf::from);
        let storage_path =
            PathBuf::from(var("HOVER_STORAGE_PATH").unwrap_or_else(|| "/tmp/storage".into()));
        let function_name = var("AWS_LAMBDA_FUNCTION_NAME");
        let function_type = FunctionType::resolve(
            function_name.as_deref(),
            var("HOVER_FUNCTION_TYPE").as_deref(),
        )
        .map_err(|message| InitError::new(InitErrorKind::UnknownFunctionType, message))?;
        Ok(Self {
            task_root,
            runtime_dir,
            storage_path,
            function_type,
            function_name,
            runtime_api,
        })
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.runtime_dir.join("manifest.json")
    }

    /// The encrypted secrets file, which may be absent.
    pub fn secrets_path(&self) -> PathBuf {
        self.runtime_dir.join(".env")
    }
}

/// The folders of a Laravel storage path, including the one that holds Laravel's cache
/// files (config, services, packages, routes, events), since the app directory is read-only.
const STORAGE_DIRECTORIES: [&str; 7] = [
    "app/public",
    "bootstrap/cache",
    "framework/cache/data",
    "framework/sessions",
    "framework/testing",
    "framework/views",
    "logs",
];

/// Creates the storage directories; existing ones are kept as they are.
pub fn create_storage(storage_path: &Path) -> Result<(), InitError> {
    for directory in STORAGE_DIRECTORIES {
        let path = storage_path.join(directory);
        fs::create_dir_all(&path).map_err(|error| {
            InitError::new(
                InitErrorKind::StorageUnavailable,
                format!(
                    "cannot create the storage directory {}: {error}",
                    path.display()
                ),
            )
        })?;
    }
    Ok(())
}

/// Whether a variable belongs to Lambda, which nothing the runtime loads may overwrite:
/// `LAMBDA_*`, `AWS_LAMBDA_*`, `_X_AMZN_TRACE_ID`, `_HANDLER`, and any other `AWS_*` that
/// Lambda has set. An `AWS_*` name Lambda leaves unset, such as Laravel's `AWS_BUCKET`, is
/// the application's.
pub fn is_reserved(name: &str, set_by_lambda: bool) -> bool {
    name.starts_with("LAMBDA_")
        || name.starts_with("AWS_LAMBDA_")
        || name == "_X_AMZN_TRACE_ID"
        || name == "_HANDLER"
        || (name.starts_with("AWS_") && set_by_lambda)
}

/// The environment init exports, and what it left out.
#[derive(Debug, Default)]
pub struct Environment {
    /// Names and values in the order they are set; values may be secrets.
    pub variables: Vec<(String, Zeroizing<String>)>,
    /// Manifest entries left out because Lambda's variable of that name wins.
    pub ignored: Vec<String>,
    /// Secrets left out because the manifest or the process environment sets that name.
    pub shadowed: Vec<String>,
    /// Secrets (name, line) whose `${NAME}` references were left as written: values from
    /// the environment would have grown them past dotenv's limit.
    pub overgrown: Vec<(String, usize)>,
    /// The names of the variables the secrets set, in `variables`.
    pub secret_names: Vec<String>,
}

/// The environment init exports over the process environment, which `process` looks up.
/// Later layers win, except where a layer only fills in:
/// 1. Laravel's cache paths under the storage path;
/// 2. the manifest's `environment`, over the process environment and the cache paths;
/// 3. `HOVER_BUILD_ID` from `build_details.id`;
/// 4. the secrets, immutably, as the original runtime's `Dotenv::createImmutable` loaded
///    them: only names that none of the above nor the process environment sets.
///
/// Lambda's own variables ([`is_reserved`]) are never overwritten.
pub fn environment(
    manifest: &Manifest,
    storage_path: &Path,
    secrets: &[Entry],
    process: impl Fn(&str) -> Option<String>,
) -> Environment {
    let cache = storage_path.join("bootstrap/cache");
    let cache_file = |file: &str| Zeroizing::new(cache.join(file).to_string_lossy().into_owned());
    let mut environment = Environment {
        variables: [
            ("APP_CONFIG_CACHE", "config.php"),
            ("APP_SERVICES_CACHE", "services.php"),
            ("APP_PACKAGES_CACHE", "packages.php"),
            ("APP_ROUTES_CACHE", "routes-v7.php"),
            ("APP_EVENTS_CACHE", "events.php"),
        ]
        .into_iter()
        .map(|(name, file)| (name.to_owned(), cache_file(file)))
        .collect(),
        ..Environment::default()
    };
    let build_id = manifest
        .build_id
        .iter()
        .map(|id| ("HOVER_BUILD_ID".to_owned(), id.clone()));
    for (name, value) in manifest.environment.iter().cloned().chain(build_id) {
        if is_reserved(&name, process(&name).is_some()) {
            environment.ignored.push(name);
            continue;
        }
        let value = Zeroizing::new(value);
        match environment
            .variables
            .iter_mut()
            .find(|(existing, _)| *existing == name)
        {
            Some(entry) => entry.1 = value,
            None => environment.variables.push((name, value)),
        }
    }
    let exported = |name: &str| {
        environment
            .variables
            .iter()
            .find(|(exported, _)| exported == name)
            .map(|(_, value)| value.as_str().to_owned())
    };
    let (reserved, secrets): (Vec<&Entry>, Vec<&Entry>) = secrets
        .iter()
        .partition(|entry| is_reserved(&entry.name, false));
    let loaded = dotenv::load(secrets, |name| exported(name).or_else(|| process(name)));
    environment.secret_names = loaded
        .variables
        .iter()
        .map(|(name, _)| name.clone())
        .collect();
    environment.variables.extend(loaded.variables);
    environment.shadowed = loaded.shadowed;
    environment.overgrown = loaded.overgrown;
    for entry in reserved {
        if !environment.shadowed.contains(&entry.name) {
            environment.shadowed.push(entry.name.clone());
        }
    }
    environment
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |name| map.get(name).cloned()
    }

    #[test]
    fn settings_default_to_lambdas_layout() {
        let settings = Settings::from_env(lookup(&[
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("AWS_LAMBDA_FUNCTION_NAME", "shop-production-cli"),
        ]))
        .unwrap();
        assert_eq!(settings.task_root, PathBuf::from("/var/task"));
        assert_eq!(
            settings.manifest_path(),
            PathBuf::from("/var/task/hover_runtime/manifest.json")
        );
        assert_eq!(settings.storage_path, PathBuf::from("/tmp/storage"));
        assert_eq!(settings.function_type, FunctionType::Cli);
    }

    #[test]
    fn hover_variables_override_the_layout() {
        let settings = Settings::from_env(lookup(&[
            ("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9001"),
            ("LAMBDA_TASK_ROOT", "/app"),
            ("HOVER_RUNTIME_DIR", "/etc/hover"),
            ("HOVER_STORAGE_PATH", "/scratch"),
            ("HOVER_FUNCTION_TYPE", "queue"),
        ]))
        .unwrap();
        assert_eq!(settings.task_root, PathBuf::from("/app"));
        assert_eq!(
            settings.manifest_path(),
            PathBuf::from("/etc/hover/manifest.json")
        );
        assert_eq!(settings.storage_path, PathBuf::from("/scratch"));
        assert_eq!(settings.function_type, FunctionType::Queue);
    }

    #[test]
    fn missing_runtime_api_or_type_is_an_init_error() {
        let error = Settings::from_env(lookup(&[("HOVER_FUNCTION_TYPE", "cli")])).unwrap_err();
        assert_eq!(error.kind, InitErrorKind::NoRuntimeApi);
        let error = Settings::from_env(lookup(&[
            ("AWS_LAMBDA_RUNTIME_API", "x:1"),
            ("AWS_LAMBDA_FUNCTION_NAME", "f"),
        ]))
        .unwrap_err();
        assert_eq!(error.kind, InitErrorKind::UnknownFunctionType);
    }

    #[test]
    fn storage_directories_are_created_and_failures_named() {
        let root = std::env::temp_dir().join(format!("hover-storage-{}", std::process::id()));
        create_storage(&root).unwrap();
        for directory in STORAGE_DIRECTORIES {
            assert!(root.join(directory).is_dir(), "{directory}");
        }
        create_storage(&root).expect("a second run keeps what exists");
        let blocked = root.join("file");
        fs::write(&blocked, b"").unwrap();
        let error = create_storage(&blocked).unwrap_err();
        assert_eq!(error.kind, InitErrorKind::StorageUnavailable);
        assert!(
            error
                .message
                .contains(&blocked.join("app/public").display().to_string()),
            "{}",
            error.message
        );
        fs::remove_dir_all(root).unwrap();
    }

    fn get<'a>(environment: &'a Environment, name: &str) -> Option<&'a str> {
        environment
            .variables
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    #[test]
    fn environment_layers_cache_paths_manifest_and_build_id() {
        let manifest = Manifest {
            name: "shop".into(),
            environment: vec![
                ("APP_ENV".into(), "production".into()),
                ("APP_ROUTES_CACHE".into(), "/elsewhere/routes.php".into()),
                ("AWS_REGION".into(), "mars-1".into()),
                ("AWS_BUCKET".into(), "shop-assets".into()),
                ("HOVER_BUILD_ID".into(), "from-environment".into()),
            ],
            build_id: Some("b-9".into()),
            queue: None,
        };
        let process = lookup(&[("AWS_REGION", "eu-west-1"), ("APP_ENV", "local")]);
        let exported = environment(&manifest, Path::new("/tmp/s"), &[], process);
        assert_eq!(
            get(&exported, "APP_CONFIG_CACHE"),
            Some("/tmp/s/bootstrap/cache/config.php")
        );
        assert_eq!(
            get(&exported, "APP_EVENTS_CACHE"),
            Some("/tmp/s/bootstrap/cache/events.php")
        );
        assert_eq!(
            get(&exported, "APP_ROUTES_CACHE"),
            Some("/elsewhere/routes.php")
        );
        assert_eq!(get(&exported, "APP_ENV"), Some("production"));
        assert_eq!(get(&exported, "HOVER_BUILD_ID"), Some("b-9"));
        assert_eq!(get(&exported, "AWS_REGION"), None);
        assert_eq!(get(&exported, "AWS_BUCKET"), Some("shop-assets"));
        assert_eq!(exported.ignored, vec!["AWS_REGION".to_string()]);
        assert_eq!(
            exported
                .variables
                .iter()
                .filter(|(n, _)| n == "HOVER_BUILD_ID")
                .count(),
            1
        );
    }

    #[test]
    fn secrets_fill_in_what_the_manifest_and_the_function_do_not_set() {
        let manifest = Manifest {
            name: "shop".into(),
            environment: vec![("DB_HOST".into(), "db.manifest".into())],
            build_id: None,
            queue: None,
        };
        let secrets = dotenv::parse(
            b"DB_HOST=db.secret\nDB_PASSWORD=pw\nMAIL_HOST=mail.secret\nAWS_REGION=mars-1\n\
              LAMBDA_TASK_ROOT=/x\n_X_AMZN_TRACE_ID=Root=1\nAWS_BUCKET=from-secrets\n\
              DSN=\"mysql://${DB_HOST}/${APP_NAME}:${DB_PASSWORD}\"\n",
        )
        .unwrap();
        let process = lookup(&[
            ("AWS_REGION", "eu-west-1"),
            ("MAIL_HOST", "mail.function"),
            ("APP_NAME", "shop"),
        ]);
        let exported = environment(&manifest, Path::new("/s"), &secrets, process);
        assert_eq!(get(&exported, "DB_HOST"), Some("db.manifest"));
        assert_eq!(get(&exported, "DB_PASSWORD"), Some("pw"));
        assert_eq!(
            get(&exported, "MAIL_HOST"),
            None,
            "the function's own value stays"
        );
        assert_eq!(get(&exported, "AWS_REGION"), None);
        assert_eq!(get(&exported, "LAMBDA_TASK_ROOT"), None);
        assert_eq!(get(&exported, "_X_AMZN_TRACE_ID"), None);
        assert_eq!(get(&exported, "AWS_BUCKET"), Some("from-secrets"));
        assert_eq!(get(&exported, "DSN"), Some("mysql://db.manifest/shop:pw"));
        assert_eq!(
            exported.shadowed,
            [
                "DB_HOST",
                "MAIL_HOST",
                "AWS_REGION",
                "LAMBDA_TASK_ROOT",
                "_X_AMZN_TRACE_ID"
            ]
        );
    }

    #[test]
    fn lambdas_variables_are_reserved() {
        for name in [
            "AWS_LAMBDA_RUNTIME_API",
            "AWS_LAMBDA_LOG_FORMAT",
            "LAMBDA_TASK_ROOT",
            "_X_AMZN_TRACE_ID",
            "_HANDLER",
        ] {
            assert!(is_reserved(name, false), "{name}");
        }
        assert!(is_reserved("AWS_REGION", true));
        for name in ["AWS_BUCKET", "APP_KEY", "DB_HOST", "XAWS_", "HANDLER"] {
            assert!(!is_reserved(name, false), "{name}");
        }
    }

    #[test]
    fn a_secret_that_the_environment_would_grow_too_long_is_named() {
        let manifest = Manifest {
            name: "shop".into(),
            environment: Vec::new(),
            build_id: None,
            queue: None,
        };
        let secrets = dotenv::parse(b"SMALL=ok\nHUGE=\"${BIG}${BIG}\"\n").unwrap();
        let big = "x".repeat(dotenv::MAX_RESOLVED_LEN / 2 + 1);
        let exported = environment(
            &manifest,
            Path::new("/s"),
            &secrets,
            lookup(&[("BIG", &big)]),
        );
        assert_eq!(exported.overgrown, [("HUGE".to_string(), 2)]);
        assert_eq!(get(&exported, "SMALL"), Some("ok"));
    }
}
