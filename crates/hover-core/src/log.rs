//! Log records on stderr, which Lambda sends to CloudWatch.
//!
//! Records go to the stderr the runtime started with, kept aside at init ([`keep_stdio`]):
//! code the runtime runs (a queue job) may close or reopen its own STDERR, which must
//! neither silence the runtime's log nor send it into a file the job opened.
//!
//! The format follows `AWS_LAMBDA_LOG_FORMAT`: `Text` (the default) writes AWS's managed
//! runtime layout `timestamp<TAB>request id<TAB>LEVEL<TAB>message`; `JSON` writes one object
//! per record with the same fields, so that CloudWatch can filter on them.

use std::io::Write;
use std::os::fd::OwnedFd;
use std::sync::OnceLock;
use std::time::SystemTime;

use serde::Serialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Level {
    Info,
    Warn,
    Error,
}

impl LogFormat {
    /// The format `AWS_LAMBDA_LOG_FORMAT` names (`JSON`, case-insensitive), else text.
    pub fn from_setting(setting: Option<&str>) -> Self {
        match setting {
            Some(value) if value.eq_ignore_ascii_case("json") => Self::Json,
            _ => Self::Text,
        }
    }

    /// One record, newline-terminated.
    pub fn record(
        self,
        time: SystemTime,
        level: Level,
        request_id: Option<&str>,
        message: &str,
    ) -> String {
        let timestamp = humantime::format_rfc3339_millis(time).to_string();
        match self {
            Self::Text => {
                let level = match level {
                    Level::Info => "INFO",
                    Level::Warn => "WARN",
                    Level::Error => "ERROR",
                };
                format!(
                    "{timestamp}\t{}\t{level}\t{}\n",
                    request_id.unwrap_or("undefined"),
                    message.trim_end_matches('\n')
                )
            }
            Self::Json => {
                #[derive(Serialize)]
                struct Record<'a> {
                    timestamp: &'a str,
                    level: Level,
                    #[serde(rename = "requestId", skip_serializing_if = "Option::is_none")]
                    request_id: Option<&'a str>,
                    message: &'a str,
                }
                let record = Record {
                    timestamp: &timestamp,
                    level,
                    request_id,
                    message: message.trim_end_matches('\n'),
                };
                let mut line =
                    serde_json::to_string(&record).expect("a record of strings always serializes");
                line.push('\n');
                line
            }
        }
    }

    /// Writes one record to stderr in a single `write`, so records do not interleave.
    pub fn write(self, level: Level, request_id: Option<&str>, message: &str) {
        self.write_all(level, request_id, [message]);
    }

    /// Writes a record for each message, all in a single `write`: a command writing many
    /// short lines costs one system call per read of its output, not one per line.
    pub fn write_all<'a>(
        self,
        level: Level,
        request_id: Option<&str>,
        messages: impl IntoIterator<Item = &'a str>,
    ) {
        let now = SystemTime::now();
        let records: String = messages
            .into_iter()
            .map(|message| self.record(now, level, request_id, message))
            .collect();
        if records.is_empty() {
            return;
        }
        // A log line that cannot be written has nowhere else to go.
        match KEPT.get().and_then(Option::as_ref) {
            Some(kept) => write_whole(&kept.stderr, records.as_bytes()),
            None => {
                let _ = std::io::stderr().lock().write_all(records.as_bytes());
            }
        }
    }
}

/// Writes all of `bytes` to `fd`, as long as it takes them.
fn write_whole(fd: &OwnedFd, mut bytes: &[u8]) {
    while !bytes.is_empty() {
        match rustix::io::write(fd, bytes) {
            Ok(0) => return,
            Ok(written) => bytes = &bytes[written..],
            Err(rustix::io::Errno::INTR) => {}
            Err(_) => return,
        }
    }
}

/// Copies of the stdout and stderr the runtime started with.
struct Kept {
    stdout: OwnedFd,
    stderr: OwnedFd,
}

static KEPT: OnceLock<Option<Kept>> = OnceLock::new();

/// Keeps copies of this process's stdout and stderr (descriptors 1 and 2 as they are now),
/// for the log and for [`restore_stdio`]. Once per process; copies that cannot be made
/// leave the log on descriptor 2.
pub fn keep_stdio() {
    KEPT.get_or_init(|| {
        let copy = |fd| rustix::io::fcntl_dupfd_cloexec(fd, 3).ok();
        Some(Kept {
            stdout: copy(rustix::stdio::stdout())?,
            stderr: copy(rustix::stdio::stderr())?,
        })
    });
}

/// Whether [`keep_stdio`] kept them: the log does not write to descriptor 2.
pub fn stdio_kept() -> bool {
    KEPT.get().is_some_and(Option::is_some)
}

/// Puts the kept stdout and stderr back on descriptors 1 and 2, where code the runtime ran
/// may have closed or replaced them: before a restart in place, whose new image writes
/// to them.
pub fn restore_stdio() {
    if let Some(Some(kept)) = KEPT.get() {
        let _ = rustix::stdio::dup2_stdout(&kept.stdout);
        let _ = rustix::stdio::dup2_stderr(&kept.stderr);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, UNIX_EPOCH};

    const TIME: Duration = Duration::from_millis(1_700_000_000_123);

    #[test]
    fn text_records_follow_the_managed_runtimes() {
        let line = LogFormat::Text.record(UNIX_EPOCH + TIME, Level::Info, Some("req-1"), "done\n");
        assert_eq!(line, "2023-11-14T22:13:20.123Z\treq-1\tINFO\tdone\n");
        let line = LogFormat::Text.record(UNIX_EPOCH + TIME, Level::Error, None, "boom");
        assert_eq!(line, "2023-11-14T22:13:20.123Z\tundefined\tERROR\tboom\n");
    }

    #[test]
    fn json_records_are_one_object_per_line() {
        let line = LogFormat::Json.record(
            UNIX_EPOCH + TIME,
            Level::Warn,
            Some("req-1"),
            "two\nlines\n",
        );
        assert!(
            line.ends_with("}\n") && line.matches('\n').count() == 1,
            "{line}"
        );
        let value: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"timestamp": "2023-11-14T22:13:20.123Z", "level": "WARN", "requestId": "req-1", "message": "two\nlines"})
        );
        let value: serde_json::Value = serde_json::from_str(&LogFormat::Json.record(
            UNIX_EPOCH + TIME,
            Level::Info,
            None,
            "x",
        ))
        .unwrap();
        assert!(value.get("requestId").is_none());
    }

    #[test]
    fn the_setting_is_case_insensitive_and_defaults_to_text() {
        assert_eq!(LogFormat::from_setting(Some("JSON")), LogFormat::Json);
        assert_eq!(LogFormat::from_setting(Some("json")), LogFormat::Json);
        assert_eq!(LogFormat::from_setting(Some("Text")), LogFormat::Text);
        assert_eq!(LogFormat::from_setting(None), LogFormat::Text);
    }
}
