//! Init: everything the runtime settles natively before Laravel boots.
//!
//! Where the application and the runtime files are, which function type this is, the
//! storage directories Laravel writes to (Lambda's only writable place is `/tmp`), and the
//! environment the application sees. Each failure is an [`InitError`] for `/init/error`.

use std::fs;
use std::path::{Path, PathBuf};

use crate::function_type::FunctionType;
use crate::manifest::{Manifest, ManifestError};

/// A failed init, reported to `/init/error` and stderr before the process exits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InitError {
    pub error_type: &'static str,
    pub message: String,
}

impl InitError {
    fn new(error_type: &'static str, message: impl Into<String>) -> Self {
        Self {
            error_type,
            message: message.into(),
        }
    }
}

impl From<ManifestError> for InitError {
    fn from(ManifestError(message): ManifestError) -> Self {
        Self::new("Hover.InvalidManifest", message)
    }
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
    /// `AWS_LAMBDA_RUNTIME_API`: host and port of the Runtime API.
    pub runtime_api: String,
}

impl Settings {
    /// Reads the settings through `var`, which looks up one environment variable.
    pub fn from_env(var: impl Fn(&str) -> Option<String>) -> Result<Self, InitError> {
        let runtime_api = var("AWS_LAMBDA_RUNTIME_API").ok_or_else(|| {
            InitError::new(
                "Hover.NoRuntimeApi",
                "AWS_LAMBDA_RUNTIME_API is not set: run the runtime under Lambda or the Runtime Interface Emulator",
            )
        })?;
        let task_root =
            PathBuf::from(var("LAMBDA_TASK_ROOT").unwrap_or_else(|| "/var/task".into()));
        let runtime_dir =
            var("HOVER_RUNTIME_DIR").map_or_else(|| task_root.join("hover_runtime"), PathBuf::from);
        let storage_path =
            PathBuf::from(var("HOVER_STORAGE_PATH").unwrap_or_else(|| "/tmp/storage".into()));
        let function_type = FunctionType::resolve(
            var("AWS_LAMBDA_FUNCTION_NAME").as_deref(),
            var("HOVER_FUNCTION_TYPE").as_deref(),
        )
        .map_err(|message| InitError::new("Hover.UnknownFunctionType", message))?;
        Ok(Self {
            task_root,
            runtime_dir,
            storage_path,
            function_type,
            runtime_api,
        })
    }

    pub fn manifest_path(&self) -> PathBuf {
        self.runtime_dir.join("manifest.json")
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
                "Hover.StorageUnavailable",
                format!(
                    "cannot create the storage directory {}: {error}",
                    path.display()
                ),
            )
        })?;
    }
    Ok(())
}

/// Variables that belong to Lambda. Nothing the runtime loads may overwrite them.
pub fn is_reserved(name: &str) -> bool {
    name.starts_with("AWS_")
        || name.starts_with("LAMBDA_")
        || name == "_X_AMZN_TRACE_ID"
        || name == "_HANDLER"
}

/// The environment init exports, later entries taking precedence over earlier ones:
/// Laravel's cache paths under the storage path, then the manifest's `environment`
/// (which may move them), then `HOVER_BUILD_ID`. Reserved names are left out and returned
/// apart, so that the caller can say they were ignored.
pub fn environment(
    manifest: &Manifest,
    storage_path: &Path,
) -> (Vec<(String, String)>, Vec<String>) {
    let cache = storage_path.join("bootstrap/cache");
    let cache_file = |file: &str| cache.join(file).to_string_lossy().into_owned();
    let mut exported: Vec<(String, String)> = [
        ("APP_CONFIG_CACHE", "config.php"),
        ("APP_SERVICES_CACHE", "services.php"),
        ("APP_PACKAGES_CACHE", "packages.php"),
        ("APP_ROUTES_CACHE", "routes-v7.php"),
        ("APP_EVENTS_CACHE", "events.php"),
    ]
    .into_iter()
    .map(|(name, file)| (name.to_owned(), cache_file(file)))
    .collect();
    let mut ignored = Vec::new();
    let build_id = manifest
        .build_id
        .iter()
        .map(|id| ("HOVER_BUILD_ID".to_owned(), id.clone()));
    for (name, value) in manifest.environment.iter().cloned().chain(build_id) {
        if is_reserved(&name) {
            ignored.push(name);
            continue;
        }
        match exported.iter_mut().find(|(existing, _)| *existing == name) {
            Some(entry) => entry.1 = value,
            None => exported.push((name, value)),
        }
    }
    (exported, ignored)
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
        assert_eq!(error.error_type, "Hover.NoRuntimeApi");
        let error = Settings::from_env(lookup(&[
            ("AWS_LAMBDA_RUNTIME_API", "x:1"),
            ("AWS_LAMBDA_FUNCTION_NAME", "f"),
        ]))
        .unwrap_err();
        assert_eq!(error.error_type, "Hover.UnknownFunctionType");
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
        assert_eq!(error.error_type, "Hover.StorageUnavailable");
        assert!(
            error
                .message
                .contains(&blocked.join("app/public").display().to_string()),
            "{}",
            error.message
        );
        fs::remove_dir_all(root).unwrap();
    }

    #[test]
    fn environment_layers_cache_paths_manifest_and_build_id() {
        let manifest = Manifest {
            name: "shop".into(),
            environment: vec![
                ("APP_ENV".into(), "production".into()),
                ("APP_ROUTES_CACHE".into(), "/elsewhere/routes.php".into()),
                ("AWS_REGION".into(), "mars-1".into()),
                ("HOVER_BUILD_ID".into(), "from-environment".into()),
            ],
            build_id: Some("b-9".into()),
        };
        let (exported, ignored) = environment(&manifest, Path::new("/tmp/s"));
        let get = |name: &str| {
            exported
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(
            get("APP_CONFIG_CACHE"),
            Some("/tmp/s/bootstrap/cache/config.php")
        );
        assert_eq!(
            get("APP_EVENTS_CACHE"),
            Some("/tmp/s/bootstrap/cache/events.php")
        );
        assert_eq!(get("APP_ROUTES_CACHE"), Some("/elsewhere/routes.php"));
        assert_eq!(get("APP_ENV"), Some("production"));
        assert_eq!(get("HOVER_BUILD_ID"), Some("b-9"));
        assert_eq!(get("AWS_REGION"), None);
        assert_eq!(ignored, vec!["AWS_REGION".to_string()]);
        assert_eq!(
            exported
                .iter()
                .filter(|(n, _)| n == "HOVER_BUILD_ID")
                .count(),
            1
        );
    }

    #[test]
    fn lambdas_variables_are_reserved() {
        for name in [
            "AWS_REGION",
            "AWS_LAMBDA_RUNTIME_API",
            "LAMBDA_TASK_ROOT",
            "_X_AMZN_TRACE_ID",
            "_HANDLER",
        ] {
            assert!(is_reserved(name), "{name}");
        }
        for name in ["APP_KEY", "DB_HOST", "XAWS_", "HANDLER"] {
            assert!(!is_reserved(name), "{name}");
        }
    }
}
