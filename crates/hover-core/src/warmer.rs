//! The warmer's fan-out. Hover's EventBridge rule invokes an HTTP function with
//! `{"warmer": true, "containers": N}` every few minutes so that N containers stay warm: the
//! container that gets the event invokes its own function N − 1 more times, all at once and
//! synchronously (`RequestResponse`), so that Lambda has to give each ping a container of its
//! own (pings sent one after the other would all land on the same one). It waits for them,
//! counts those that succeeded and logs the others: a failed ping costs a cold start later,
//! never the warmer invocation.
//!
//! The Lambda client is configured as every AWS SDK is (the standard credential chain,
//! `AWS_REGION`, `AWS_ENDPOINT_URL_LAMBDA` / `AWS_ENDPOINT_URL`). It lives, with its
//! single-threaded tokio runtime, for one fan-out only: it is made in the process that warms
//! (php-fpm forks after MINIT, and a runtime made before the fork is useless in the children),
//! and warmers come minutes apart, so no connection would still be open for the next one.

use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_sdk_lambda::Client;
use aws_sdk_lambda::config::retry::RetryConfig;
use aws_sdk_lambda::config::timeout::TimeoutConfig;
use aws_sdk_lambda::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_lambda::primitives::Blob;
use aws_sdk_lambda::types::InvocationType;
use serde_json::json;
use tokio::task::JoinSet;

use crate::log::{Level, LogFormat};

/// The most containers one warmer event may ask for. Hover sends small numbers; this keeps a
/// mistaken one to 99 simultaneous invocations (and connections), a tenth of Lambda's default
/// account concurrency.
pub const MAX_CONTAINERS: u32 = 100;

/// How long a ping may take when the stop point is further away: enough for a new container's
/// init (Lambda gives it 10 s) and the ping's answer.
const PING_TIMEOUT: Duration = Duration::from_secs(12);

/// The event each ping sends.
const PING_PAYLOAD: &[u8] = br#"{"warmer_ping":true}"#;

/// How much of a failed function's answer goes into the log.
const ERROR_EXCERPT_CHARS: usize = 200;

/// What a fan-out did: `requested` pings, `succeeded` of them answered without error, and why
/// each of the others failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WarmReport {
    pub requested: u32,
    pub succeeded: u32,
    pub failures: Vec<String>,
}

impl WarmReport {
    /// The warmer invocation's response, `{"warmed":…,"requested":…,"failed":…}`. The original
    /// runtime answered it with nothing meaningful and EventBridge ignores it; this only tells
    /// whoever invokes the warmer by hand what it did.
    pub fn response_body(&self) -> Vec<u8> {
        json!({
            "warmed": self.succeeded,
            "requested": self.requested,
            "failed": self.failures.len(),
        })
        .to_string()
        .into_bytes()
    }
}

/// Keeps `containers` containers of `function` warm: invokes it `containers − 1` times at once
/// (none for 0 or 1, at most [`MAX_CONTAINERS`] − 1) with `{"warmer_ping":true}`, and waits for
/// every answer, or for `stop_at`, when the pings still in flight are abandoned as failed.
/// `function` is the invoked function's ARN from the invocation's context, whose alias or
/// version qualifier keeps the pings on the same version, or its name. Failures are logged
/// with `request_id` and reported, never raised.
pub fn warm(
    function: &str,
    containers: u64,
    stop_at: Instant,
    log: LogFormat,
    request_id: &str,
) -> WarmReport {
    if containers > u64::from(MAX_CONTAINERS) {
        log.write(
            Level::Warn,
            Some(request_id),
            &format!(
                "warmer: {containers} containers asked for, warming the most allowed, \
                 {MAX_CONTAINERS}"
            ),
        );
    }
    let requested = ping_count(containers);
    let mut report = WarmReport {
        requested,
        succeeded: 0,
        failures: Vec::new(),
    };
    if requested == 0 {
        return report;
    }
    for outcome in fan_out(function, requested, stop_at) {
        match outcome {
            Ok(()) => report.succeeded += 1,
            Err(reason) => {
                log.write(
                    Level::Warn,
                    Some(request_id),
                    &format!("warmer: a ping to {function} failed: {reason}"),
                );
                report.failures.push(reason);
            }
        }
    }
    report
}

/// How many pings keep `containers` containers warm: one for each but the one warming.
fn ping_count(containers: u64) -> u32 {
    // Clamped to `1..=MAX_CONTAINERS`, the number fits in a u32.
    containers.clamp(1, u64::from(MAX_CONTAINERS)) as u32 - 1
}

/// How long each ping may take, sent at `now`: [`PING_TIMEOUT`], or less so as to end by
/// `stop_at`.
fn ping_timeout(stop_at: Instant, now: Instant) -> Duration {
    stop_at.saturating_duration_since(now).min(PING_TIMEOUT)
}

/// Sends `pings` pings to `function` at once, on a runtime of their own; the outcome of each.
fn fan_out(function: &str, pings: u32, stop_at: Instant) -> Vec<Result<(), String>> {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            let reason = format!("cannot start the warmer's tokio runtime: {error}");
            return vec![Err(reason); pings as usize];
        }
    };
    let outcomes = runtime.block_on(async {
        let shared_config = aws_config::defaults(BehaviorVersion::latest()).load().await;
        // No retries: a ping retried after a throttle or an error would land when the others
        // are done, on a container they already warmed.
        let timeouts = TimeoutConfig::builder()
            .operation_timeout(ping_timeout(stop_at, Instant::now()))
            .build();
        let config = aws_sdk_lambda::config::Builder::from(&shared_config)
            .retry_config(RetryConfig::disabled())
            .timeout_config(timeouts)
            .build();
        let client = Client::from_conf(config);
        let mut in_flight = JoinSet::new();
        for _ in 0..pings {
            in_flight.spawn(ping(client.clone(), function.to_owned()));
        }
        in_flight.join_all().await
    });
    // Not dropped, which would wait for its blocking threads: a name lookup that hangs (the
    // HTTP client resolves names on one) finishes on its own, after the stop point.
    runtime.shutdown_background();
    outcomes
}

/// One ping; why it failed if it did.
async fn ping(client: Client, function: String) -> Result<(), String> {
    let sent = client
        .invoke()
        .function_name(function)
        .invocation_type(InvocationType::RequestResponse)
        .payload(Blob::new(PING_PAYLOAD))
        .send()
        .await;
    match sent {
        Ok(output) => match output.function_error() {
            None => Ok(()),
            Some(kind) => Err(format!(
                "the function answered with an error ({kind}): {}",
                excerpt(output.payload().map_or(&[], Blob::as_ref))
            )),
        },
        Err(error) => Err(invoke_error_detail(&error)),
    }
}

/// An SDK error as one line: Lambda's error code and message, or what the SDK says (a
/// timeout, a connection refused).
fn invoke_error_detail<E, R>(error: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug,
{
    match (error.code(), error.message()) {
        (Some(code), Some(message)) => format!("Lambda Invoke: {code}: {message}"),
        (Some(code), None) => format!("Lambda Invoke: {code}"),
        _ => format!("Lambda Invoke: {}", DisplayErrorContext(error)),
    }
}

/// The start of a function's error answer, for the log.
fn excerpt(answer: &[u8]) -> String {
    let text = String::from_utf8_lossy(answer);
    match text.char_indices().nth(ERROR_EXCERPT_CHARS) {
        Some((end, _)) => format!("{}…", &text[..end]),
        None => text.into_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_ping_for_each_container_but_the_one_warming() {
        assert_eq!(ping_count(0), 0, "no containers asked for: no pings");
        assert_eq!(ping_count(1), 0, "the warming container is the one");
        assert_eq!(ping_count(2), 1);
        assert_eq!(ping_count(5), 4);
        assert_eq!(ping_count(100), 99);
    }

    #[test]
    fn more_containers_than_allowed_are_capped() {
        assert_eq!(ping_count(101), 99);
        assert_eq!(ping_count(u64::from(u32::MAX) + 1), 99);
        assert_eq!(ping_count(u64::MAX), 99);
    }

    #[test]
    fn the_ping_is_the_warmer_ping_event() {
        let event: serde_json::Value = serde_json::from_slice(PING_PAYLOAD).unwrap();
        assert_eq!(event, json!({"warmer_ping": true}));
        assert_eq!(PING_PAYLOAD, br#"{"warmer_ping":true}"#, "compact, as sent");
    }

    #[test]
    fn pings_end_by_the_stop_point() {
        let now = Instant::now();
        assert_eq!(
            ping_timeout(now + Duration::from_secs(60), now),
            PING_TIMEOUT
        );
        assert_eq!(
            ping_timeout(now + Duration::from_millis(800), now),
            Duration::from_millis(800)
        );
        assert_eq!(
            ping_timeout(now, now + Duration::from_secs(1)),
            Duration::ZERO
        );
    }

    #[test]
    fn the_response_counts_the_pings() {
        let report = WarmReport {
            requested: 4,
            succeeded: 3,
            failures: vec!["Lambda Invoke: ServiceException: down".into()],
        };
        assert_eq!(
            report.response_body(),
            br#"{"warmed":3,"requested":4,"failed":1}"#
        );
    }

    #[test]
    fn no_pings_without_containers_to_warm() {
        // Returns before any client exists: nothing to configure, nothing sent.
        for containers in [0, 1] {
            let report = warm(
                "hover-http",
                containers,
                Instant::now() + Duration::from_secs(1),
                LogFormat::Text,
                "request",
            );
            assert_eq!(
                report,
                WarmReport {
                    requested: 0,
                    succeeded: 0,
                    failures: Vec::new()
                }
            );
        }
    }

    #[test]
    fn long_error_answers_are_cut_for_the_log() {
        assert_eq!(
            excerpt(br#"{"errorMessage":"boom"}"#),
            r#"{"errorMessage":"boom"}"#
        );
        let long = "é".repeat(ERROR_EXCERPT_CHARS + 10);
        let cut = excerpt(long.as_bytes());
        assert_eq!(cut.chars().count(), ERROR_EXCERPT_CHARS + 1);
        assert!(cut.ends_with("é…"));
        assert_eq!(
            excerpt(&[0xff]),
            "\u{fffd}",
            "not UTF-8: shown, not dropped"
        );
    }
}
