//! What php-fpm is told: where it is, the configuration the runtime generates for it, and
//! the pool directives a function may add in its own `php-fpm.conf`.
//!
//! Everything here is pure text and paths, so that it can be tested without php-fpm.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use super::FpmError;

/// The variable that names php-fpm's binary, when the search does not find the right one.
pub const BINARY_VARIABLE: &str = "HOVER_PHP_FPM";
/// Where the runtime keeps php-fpm's socket, pid file and configuration in Lambda.
pub const RUN_DIR: &str = "/tmp/hover-fpm";
/// The variable that moves [`RUN_DIR`]: Lambda runs one runtime per sandbox, a developer's
/// machine or a test suite may run several.
pub const RUN_DIR_VARIABLE: &str = "HOVER_FPM_RUN_DIR";
/// The function's own pool directives, in its runtime directory.
pub const USER_CONF_NAME: &str = "php-fpm.conf";
/// Directories searched after `PATH`: php-fpm is an `sbin` program, often outside it.
const SBIN_DIRECTORIES: [&str; 2] = ["/usr/sbin", "/usr/local/sbin"];

/// Where php-fpm is and what it is given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FpmSettings {
    /// The php-fpm program.
    pub binary: PathBuf,
    /// The directory (created `0700`) for its socket, pid file and generated configuration.
    pub run_dir: PathBuf,
    /// The function's pool directives (`<runtime dir>/php-fpm.conf`), if it has any.
    pub user_conf: Option<PathBuf>,
}

impl FpmSettings {
    /// The settings for this process: the binary `$HOVER_PHP_FPM` names, else the first
    /// `php-fpm` or `php-fpm<php_version>` (say `php-fpm8.2`: Debian's name) found in
    /// `PATH`, `/usr/sbin` or `/usr/local/sbin`; the run directory `$HOVER_FPM_RUN_DIR`,
    /// else [`RUN_DIR`]; and the function's `php-fpm.conf` in `runtime_dir`, if it exists.
    ///
    /// `php_version` is the running PHP's `major.minor`: a php-fpm of another version would
    /// run the application with other extensions and another `php.ini`.
    pub fn from_env(
        runtime_dir: &Path,
        php_version: &str,
        var: impl Fn(&str) -> Option<String>,
    ) -> Result<Self, FpmError> {
        let binary = match var(BINARY_VARIABLE).filter(|path| !path.is_empty()) {
            Some(path) => PathBuf::from(path),
            None => {
                let names = ["php-fpm".to_owned(), format!("php-fpm{php_version}")];
                let directories = search_directories(var("PATH").as_deref());
                find_binary(&names, &directories, |path| path.is_file()).ok_or_else(|| {
                    FpmError::NotFound {
                        names: names.to_vec(),
                        directories,
                    }
                })?
            }
        };
        let user_conf = runtime_dir.join(USER_CONF_NAME);
        Ok(Self {
            binary,
            run_dir: PathBuf::from(
                var(RUN_DIR_VARIABLE)
                    .filter(|path| !path.is_empty())
                    .unwrap_or_else(|| RUN_DIR.to_owned()),
            ),
            user_conf: user_conf.is_file().then_some(user_conf),
        })
    }

    /// php-fpm's socket.
    pub fn socket(&self) -> PathBuf {
        self.run_dir.join("php-fpm.sock")
    }

    /// php-fpm's pid file.
    pub fn pid_file(&self) -> PathBuf {
        self.run_dir.join("php-fpm.pid")
    }

    /// The configuration the runtime generates.
    pub fn config_file(&self) -> PathBuf {
        self.run_dir.join("php-fpm.conf")
    }
}

/// `PATH`'s directories, then the `sbin` ones it lacks.
fn search_directories(path: Option<&str>) -> Vec<PathBuf> {
    let mut directories: Vec<PathBuf> = path
        .unwrap_or_default()
        .split(':')
        .filter(|directory| !directory.is_empty())
        .map(PathBuf::from)
        .collect();
    for sbin in SBIN_DIRECTORIES.map(PathBuf::from) {
        if !directories.contains(&sbin) {
            directories.push(sbin);
        }
    }
    directories
}

/// The first name found, by order of names, then of directories.
fn find_binary(
    names: &[String],
    directories: &[PathBuf],
    exists: impl Fn(&Path) -> bool,
) -> Option<PathBuf> {
    names
        .iter()
        .flat_map(|name| {
            directories
                .iter()
                .map(move |directory| directory.join(name))
        })
        .find(|path| exists(path))
}

/// The function's pool directives, and the lines the runtime did not take.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct UserDirectives {
    /// Directive lines, as written, in order.
    pub kept: Vec<String>,
    /// The number (1-based) in the function's file of each line of `kept`.
    pub kept_lines: Vec<usize>,
    /// Lines left out, with why, for warnings.
    pub dropped: Vec<DroppedLine>,
}

/// A line of the function's `php-fpm.conf` that the runtime left out.
#[derive(Debug, PartialEq, Eq)]
pub struct DroppedLine {
    /// 1-based.
    pub number: usize,
    pub line: String,
    pub reason: &'static str,
}

/// Directives that are the runtime's own: how it reaches php-fpm, watches it, and hands the
/// environment (with the secrets) to the workers.
const RUNTIME_DIRECTIVES: [&str; 8] = [
    "pid",
    "daemonize",
    "error_log",
    "include",
    "prefix",
    "catch_workers_output",
    "decorate_workers_output",
    "clear_env",
];

/// Takes the pool directives of a function's `php-fpm.conf` (php-fpm's syntax: one
/// `name = value` a line, `;` and `#` comments, blank lines) and leaves out those the runtime
/// sets itself: `listen` and `listen.*`, [`RUNTIME_DIRECTIVES`], section headers (everything
/// goes in the runtime's pool), and `user`/`group` unless php-fpm runs as root (only root
/// may switch users; php-fpm refuses them otherwise).
///
/// Other lines are passed on as written: php-fpm itself rejects what it does not know, with
/// its own message.
pub fn filter_user_directives(text: &str, as_root: bool) -> UserDirectives {
    let mut directives = UserDirectives::default();
    for (index, line) in text.lines().enumerate() {
        let trimmed = line.trim();
        if trimmed.is_empty() || trimmed.starts_with(';') || trimmed.starts_with('#') {
            continue;
        }
        let name = trimmed
            .split_once('=')
            .map_or(trimmed, |(name, _)| name)
            .trim()
            .to_ascii_lowercase();
        let reason = if trimmed.starts_with('[') {
            Some("sections are the runtime's: directives go in its pool")
        } else if name == "listen" || name.starts_with("listen.") {
            Some("the runtime sets where php-fpm listens")
        } else if RUNTIME_DIRECTIVES.contains(&name.as_str()) {
            Some("the runtime sets this directive")
        } else if !as_root && (name == "user" || name == "group") {
            Some("only root can switch users; php-fpm runs as the runtime's user")
        } else {
            None
        };
        match reason {
            Some(reason) => directives.dropped.push(DroppedLine {
                number: index + 1,
                line: line.to_owned(),
                reason,
            }),
            None => {
                directives.kept.push(trimmed.to_owned());
                directives.kept_lines.push(index + 1);
            }
        }
    }
    directives
}

/// The configuration php-fpm runs with: the runtime's global settings and its one pool,
/// `[hover]`, with the function's directives after the defaults (a later value wins).
pub fn config_text(settings: &FpmSettings, user_directives: &[String]) -> String {
    let mut text = format!(
        "; Generated by the Hover runtime at each start.\n\
         [global]\n\
         pid = {pid}\n\
         ; stderr: a pipe the runtime reads and logs line by line.\n\
         error_log = /proc/self/fd/2\n\
         log_level = notice\n\
         log_limit = 65536\n\
         daemonize = no\n\
         systemd_interval = 0\n\
         \n\
         [hover]\n\
         listen = {socket}\n\
         listen.mode = 0600\n\
         ; Lambda sends one request at a time.\n\
         pm = static\n\
         pm.max_children = 1\n\
         ; Workers get the runtime's environment: the function's variables and secrets.\n\
         clear_env = no\n\
         catch_workers_output = yes\n\
         decorate_workers_output = no\n\
         ; PHP's messages reach the log once, with their level, through the workers' output\n\
         ; (not a second time as FastCGI STDERR records).\n\
         php_admin_flag[fastcgi.logging] = off\n\
         ; The runtime enforces the invocation's deadline.\n\
         request_terminate_timeout = 0\n",
        pid = settings.pid_file().display(),
        socket = settings.socket().display(),
    );
    if !user_directives.is_empty() {
        text.push_str("; The function's php-fpm.conf.\n");
        for directive in user_directives {
            let _ = writeln!(text, "{directive}");
        }
    }
    text
}

/// php-fpm names a line of the generated configuration in its errors
/// (`ERROR: [/tmp/hover-fpm/php-fpm.conf:24] unable to parse value for entry 'pm'`), a file
/// that the function's author never sees. When that line is one of the function's
/// directives, this is the error with the line of the function's `php-fpm.conf` it came
/// from, quoted; `None` for any other line.
pub fn with_user_line(
    error: &str,
    settings: &FpmSettings,
    user_directives: &UserDirectives,
) -> Option<String> {
    let user_conf = settings.user_conf.as_ref()?;
    let generated = format!("[{}:", settings.config_file().display());
    let start = error.find(&generated)? + generated.len();
    let digits = &error[start..];
    let number: usize = digits[..digits.find(']')?].parse().ok()?;
    // The function's directives follow the defaults and the comment that introduces them.
    let first = config_text(settings, &[]).lines().count() + 2;
    let index = number.checked_sub(first)?;
    let directive = user_directives.kept.get(index)?;
    let line = user_directives.kept_lines.get(index)?;
    Some(format!(
        "{error} (line {line} of {}: `{directive}`)",
        user_conf.display()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings() -> FpmSettings {
        FpmSettings {
            binary: PathBuf::from("/usr/sbin/php-fpm8.2"),
            run_dir: PathBuf::from("/tmp/hover-fpm"),
            user_conf: None,
        }
    }

    #[test]
    fn the_default_configuration() {
        assert_eq!(
            config_text(&settings(), &[]),
            "; Generated by the Hover runtime at each start.
[global]
pid = /tmp/hover-fpm/php-fpm.pid
; stderr: a pipe the runtime reads and logs line by line.
error_log = /proc/self/fd/2
log_level = notice
log_limit = 65536
daemonize = no
systemd_interval = 0

[hover]
listen = /tmp/hover-fpm/php-fpm.sock
listen.mode = 0600
; Lambda sends one request at a time.
pm = static
pm.max_children = 1
; Workers get the runtime's environment: the function's variables and secrets.
clear_env = no
catch_workers_output = yes
decorate_workers_output = no
; PHP's messages reach the log once, with their level, through the workers' output
; (not a second time as FastCGI STDERR records).
php_admin_flag[fastcgi.logging] = off
; The runtime enforces the invocation's deadline.
request_terminate_timeout = 0
"
        );
    }

    #[test]
    fn the_functions_directives_come_last_in_the_pool() {
        let text = config_text(
            &settings(),
            &[
                "pm.max_requests = 250".to_owned(),
                "php_admin_value[memory_limit] = 512M".to_owned(),
            ],
        );
        assert!(
            text.ends_with(
                "request_terminate_timeout = 0\n\
                 ; The function's php-fpm.conf.\n\
                 pm.max_requests = 250\n\
                 php_admin_value[memory_limit] = 512M\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn the_functions_directives_are_kept_and_the_runtimes_dropped() {
        let text = "; tuning\n\
                    # also a comment\n\
                    \n\
                    pm.max_requests = 250\n\
                    \x20 php_admin_value[memory_limit] = 512M  \n\
                    listen = 127.0.0.1:9000\n\
                    Listen.Owner = www-data\n\
                    [www]\n\
                    clear_env = yes\n\
                    include=/etc/php/fpm/pool.d/*.conf\n\
                    user = www-data\n\
                    env[APP_MODE] = fpm\n";
        let directives = filter_user_directives(text, false);
        assert_eq!(
            directives.kept,
            [
                "pm.max_requests = 250",
                "php_admin_value[memory_limit] = 512M",
                "env[APP_MODE] = fpm",
            ]
        );
        let dropped: Vec<(usize, &str)> = directives
            .dropped
            .iter()
            .map(|dropped| (dropped.number, dropped.line.as_str()))
            .collect();
        assert_eq!(
            dropped,
            [
                (6, "listen = 127.0.0.1:9000"),
                (7, "Listen.Owner = www-data"),
                (8, "[www]"),
                (9, "clear_env = yes"),
                (10, "include=/etc/php/fpm/pool.d/*.conf"),
                (11, "user = www-data"),
            ]
        );
    }

    #[test]
    fn php_fpms_errors_name_the_line_of_the_functions_file() {
        let settings = FpmSettings {
            user_conf: Some(PathBuf::from("/var/task/hover_runtime/php-fpm.conf")),
            ..settings()
        };
        let directives = filter_user_directives("; tuning\nlisten = x\npm = sometimes\n", false);
        assert_eq!(directives.kept_lines, [3]);
        let generated_line = config_text(&settings, &directives.kept).lines().count();
        let error = format!(
            "ERROR: [/tmp/hover-fpm/php-fpm.conf:{generated_line}] unable to parse value for entry 'pm'"
        );
        assert_eq!(
            with_user_line(&error, &settings, &directives).as_deref(),
            Some(
                format!(
                    "{error} (line 3 of /var/task/hover_runtime/php-fpm.conf: `pm = sometimes`)"
                )
                .as_str()
            )
        );
        let runtimes = "ERROR: [/tmp/hover-fpm/php-fpm.conf:3] value is NULL";
        assert_eq!(with_user_line(runtimes, &settings, &directives), None);
        assert_eq!(
            with_user_line("ERROR: FPM initialization failed", &settings, &directives),
            None
        );
    }

    #[test]
    fn root_may_name_the_workers_user() {
        let directives = filter_user_directives("user = www-data\ngroup = www-data\n", true);
        assert_eq!(directives.kept, ["user = www-data", "group = www-data"]);
        assert!(directives.dropped.is_empty());
    }

    #[test]
    fn the_binary_is_the_first_name_found_in_path_then_sbin() {
        let directories = search_directories(Some("/opt/php/bin::/usr/sbin:/usr/bin"));
        assert_eq!(
            directories,
            ["/opt/php/bin", "/usr/sbin", "/usr/bin", "/usr/local/sbin"].map(PathBuf::from)
        );
        let names = ["php-fpm".to_owned(), "php-fpm8.2".to_owned()];
        let installed = ["/usr/local/sbin/php-fpm", "/usr/sbin/php-fpm8.2"];
        let found = find_binary(&names, &directories, |path| {
            installed
                .iter()
                .any(|installed| path == Path::new(installed))
        });
        assert_eq!(found, Some(PathBuf::from("/usr/local/sbin/php-fpm")));
        let found = find_binary(&names, &directories, |path| {
            path == Path::new("/usr/sbin/php-fpm8.2")
        });
        assert_eq!(found, Some(PathBuf::from("/usr/sbin/php-fpm8.2")));
        assert_eq!(find_binary(&names, &directories, |_| false), None);
    }

    #[test]
    fn the_variable_names_the_binary_and_the_users_conf_is_found() {
        let runtime_dir =
            std::env::temp_dir().join(format!("hover-fpm-conf-{}", std::process::id()));
        std::fs::create_dir_all(&runtime_dir).unwrap();
        let var = |name: &str| (name == BINARY_VARIABLE).then(|| "/opt/fpm".to_owned());
        let settings = FpmSettings::from_env(&runtime_dir, "8.2", var).unwrap();
        assert_eq!(settings.binary, PathBuf::from("/opt/fpm"));
        assert_eq!(settings.run_dir, PathBuf::from(RUN_DIR));
        assert_eq!(settings.user_conf, None);
        std::fs::write(runtime_dir.join(USER_CONF_NAME), "pm.max_requests = 9\n").unwrap();
        let settings = FpmSettings::from_env(&runtime_dir, "8.2", var).unwrap();
        assert_eq!(settings.user_conf, Some(runtime_dir.join(USER_CONF_NAME)));
        let elsewhere = |name: &str| (name == RUN_DIR_VARIABLE).then(|| "/tmp/fpm-9".to_owned());
        let settings = FpmSettings::from_env(&runtime_dir, "8.2", elsewhere).unwrap();
        assert_eq!(settings.run_dir, PathBuf::from("/tmp/fpm-9"));
        std::fs::remove_dir_all(&runtime_dir).unwrap();
    }
}
