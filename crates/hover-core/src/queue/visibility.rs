//! A released job's message made invisible for the release delay: SQS ChangeMessageVisibility
//! through aws-sdk-sqs, so that the record, reported back to Lambda, comes back when the job
//! asked and not when the queue's visibility timeout says. A release never deletes and
//! resends: a resend that fails would lose the job.
//!
//! The client is configured as every AWS SDK is (the standard credential chain, `AWS_REGION`,
//! `AWS_ENDPOINT_URL_SQS` / `AWS_ENDPOINT_URL`). The queue URL goes to SQS as a parameter,
//! never as the address called: the URL of a Lambda event (`https://sqs.<region>.amazonaws.com/
//! <account>/<name>`) works against any endpoint that knows the queue by account and name, as
//! moto does.
//!
//! SQS keeps a message invisible for at most 12 hours after it was received: a longer delay
//! is cut to that, and when SQS refuses the remainder, to what it surely takes
//! ([`SURE_VISIBILITY_SECONDS`]).
//!
//! Threads: the runtime changes its environment at each invocation, which is sound only while
//! it runs one thread, so a call must leave none behind. The client and its current-thread
//! tokio runtime are made on the first release and kept for the process's life, so that later
//! releases reuse the open connection: a release costs one round trip (against moto here,
//! 8.4 ms in a debug build, of which moto's own answer is 6.9 ms; a runtime made and shut down
//! per call cost 11.8 ms, and would open a connection, with its TLS handshake, per release).
//! Such a runtime starts no thread of its own, but the SDK's HTTP client resolves names on
//! tokio's blocking pool, whose thread would linger 10 s after each lookup: this client
//! resolves them on the calling thread instead, which is blocked on the call anyway. The
//! price: a name lookup is bounded by the system resolver's own timeouts, not by the call's
//! deadline; it happens only when a connection is opened.

use std::fmt;
use std::net::{IpAddr, ToSocketAddrs};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;
use aws_sdk_sqs::Client;
use aws_sdk_sqs::config::retry::RetryConfig;
use aws_sdk_sqs::config::timeout::TimeoutConfig;
use aws_sdk_sqs::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_http_client::proxy::ProxyConfig;
use aws_smithy_http_client::tls::{Provider, rustls_provider::CryptoMode};
use aws_smithy_http_client::{Builder as HttpClientBuilder, ConnectorBuilder};
use aws_smithy_runtime_api::client::dns::{DnsFuture, ResolveDns, ResolveDnsError};
use aws_smithy_runtime_api::client::http::SharedHttpClient;

/// The longest visibility SQS accepts, 12 hours: a longer release delay is cut to it.
pub const MAX_VISIBILITY_SECONDS: u32 = 43_200;

/// The longest visibility SQS takes for any message a queue function gets: Lambda receives a
/// batch at most 300 s (the longest batching window) before it invokes the function, which
/// runs at most 900 s, so the message was received at most 1,200 s ago.
pub const SURE_VISIBILITY_SECONDS: u32 = MAX_VISIBILITY_SECONDS - 1_200;

/// How long one call may take, retries included, when the deadline is further away.
const CALL_TIMEOUT: Duration = Duration::from_secs(3);
/// How long one attempt may take: a hung attempt leaves time for another.
const ATTEMPT_TIMEOUT: Duration = Duration::from_secs(1);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
/// Attempts of one call; all of them end by the call's timeout.
const MAX_ATTEMPTS: u32 = 3;

/// Sets the visibility of SQS messages; the client is made on first use and kept.
#[derive(Default)]
pub struct Visibility {
    sqs: Option<Sqs>,
}

/// The SQS client and the runtime it runs on.
struct Sqs {
    runtime: tokio::runtime::Runtime,
    client: Client,
}

impl Visibility {
    /// No client yet: it is made by the first [`Visibility::set`], in the process that uses it.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes the message of `receipt_handle` in `queue_url` invisible for `delay_seconds`
    /// from now, ending by `deadline`: each call, retries included, takes at most a few
    /// seconds and never past the deadline. Returns the seconds set.
    ///
    /// The delay is cut to SQS's limit, [`MAX_VISIBILITY_SECONDS`] (0 makes the message
    /// visible at once). SQS counts that limit from when the message was received, which the
    /// record does not say, and refuses a visibility that would end later: a refused delay
    /// above [`SURE_VISIBILITY_SECONDS`] is set again as that, which it takes.
    pub fn set(
        &mut self,
        queue_url: &str,
        receipt_handle: &str,
        delay_seconds: u64,
        deadline: Instant,
    ) -> Result<u32, VisibilityError> {
        let seconds = clamp_delay(delay_seconds);
        let sqs = match &mut self.sqs {
            Some(sqs) => sqs,
            None => self.sqs.insert(Sqs::from_environment(deadline)?),
        };
        match sqs.change(queue_url, receipt_handle, seconds, deadline) {
            Err(error)
                if error.kind == VisibilityErrorKind::Refused
                    && seconds > SURE_VISIBILITY_SECONDS =>
            {
                sqs.change(queue_url, receipt_handle, SURE_VISIBILITY_SECONDS, deadline)?;
                Ok(SURE_VISIBILITY_SECONDS)
            }
            result => result.map(|()| seconds),
        }
    }
}

impl Sqs {
    /// A client configured from the environment, made by `deadline`.
    fn from_environment(deadline: Instant) -> Result<Self, VisibilityError> {
        let timeout = call_timeout(deadline, Instant::now()).ok_or_else(deadline_passed)?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|error| VisibilityError {
                kind: VisibilityErrorKind::Other,
                detail: format!("cannot start the SQS client's runtime: {error}"),
            })?;
        let loading = aws_config::defaults(BehaviorVersion::latest())
            .http_client(http_client())
            .retry_config(RetryConfig::standard().with_max_attempts(MAX_ATTEMPTS))
            .load();
        let config = runtime
            .block_on(async { tokio::time::timeout(timeout, loading).await })
            .map_err(|_| VisibilityError {
                kind: VisibilityErrorKind::Unreachable,
                detail: format!(
                    "the SQS client's configuration (region, endpoint) did not load within \
                     {timeout:?}"
                ),
            })?;
        Ok(Self {
            client: Client::new(&config),
            runtime,
        })
    }

    /// One ChangeMessageVisibility call, ending by `deadline`.
    fn change(
        &self,
        queue_url: &str,
        receipt_handle: &str,
        seconds: u32,
        deadline: Instant,
    ) -> Result<(), VisibilityError> {
        let timeout = call_timeout(deadline, Instant::now()).ok_or_else(deadline_passed)?;
        let timeouts = TimeoutConfig::builder()
            .connect_timeout(CONNECT_TIMEOUT.min(timeout))
            .operation_attempt_timeout(ATTEMPT_TIMEOUT.min(timeout))
            .operation_timeout(timeout)
            .build();
        let request = self
            .client
            .change_message_visibility()
            .queue_url(queue_url)
            .receipt_handle(receipt_handle)
            // At most MAX_VISIBILITY_SECONDS, so within an i32.
            .visibility_timeout(seconds as i32)
            .customize()
            .config_override(aws_sdk_sqs::config::Builder::default().timeout_config(timeouts));
        self.runtime
            .block_on(request.send())
            .map_err(VisibilityError::from_sdk)?;
        Ok(())
    }
}

/// The SDK's default HTTPS client (rustls with aws-lc, the proxy from the environment), but
/// resolving names with [`CallingThreadResolver`].
fn http_client() -> SharedHttpClient {
    HttpClientBuilder::new().build_with_connector_fn(|settings, components| {
        let mut connector =
            ConnectorBuilder::default().tls_provider(Provider::Rustls(CryptoMode::AwsLc));
        connector.set_connector_settings(settings.cloned());
        if let Some(components) = components {
            connector.set_sleep_impl(components.sleep_impl());
        }
        connector.set_proxy_config(Some(ProxyConfig::from_env()));
        connector.build_with_resolver(CallingThreadResolver)
    })
}

/// Resolves names with the system resolver on the thread that asks, which starts no thread.
#[derive(Debug, Clone)]
struct CallingThreadResolver;

impl ResolveDns for CallingThreadResolver {
    fn resolve_dns<'a>(&'a self, name: &'a str) -> DnsFuture<'a> {
        let addresses = (name, 0)
            .to_socket_addrs()
            .map(|found| found.map(|address| address.ip()).collect::<Vec<IpAddr>>())
            .map_err(ResolveDnsError::new);
        DnsFuture::ready(addresses)
    }
}

/// A release delay as SQS takes it: at most [`MAX_VISIBILITY_SECONDS`].
pub fn clamp_delay(delay_seconds: u64) -> u32 {
    // At most MAX_VISIBILITY_SECONDS, so within a u32.
    delay_seconds.min(u64::from(MAX_VISIBILITY_SECONDS)) as u32
}

/// How long a call made at `now` may take: [`CALL_TIMEOUT`], or less so as to end by
/// `deadline`; none once the deadline has passed.
fn call_timeout(deadline: Instant, now: Instant) -> Option<Duration> {
    let left = deadline.saturating_duration_since(now);
    (!left.is_zero()).then(|| left.min(CALL_TIMEOUT))
}

fn deadline_passed() -> VisibilityError {
    VisibilityError {
        kind: VisibilityErrorKind::DeadlinePassed,
        detail: "the deadline had passed, SQS was not called".into(),
    }
}

/// Why a message's visibility was not set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VisibilityErrorKind {
    /// `ReceiptHandleIsInvalid`: the receipt handle is not one SQS gave for this queue.
    InvalidReceiptHandle,
    /// `MessageNotInflight`: the message is not in flight (its visibility has expired, or it
    /// was deleted).
    NotInFlight,
    /// `QueueDoesNotExist` (`NonExistentQueue`): no such queue in this account and region.
    NoSuchQueue,
    /// `AccessDenied`: the function's role may not change the queue's messages' visibility.
    AccessDenied,
    /// `RequestThrottled` or `ThrottlingException`.
    Throttled,
    /// `InvalidParameterValue`: SQS refused the visibility, as it does when it would last
    /// past 12 hours after the message was received.
    Refused,
    /// SQS could not be reached, or did not answer in time.
    Unreachable,
    /// The deadline had passed before the call.
    DeadlinePassed,
    /// Any other failure.
    Other,
}

impl VisibilityErrorKind {
    /// The kind of an SQS error code, in its JSON form (`QueueDoesNotExist`) or its Query form
    /// (`AWS.SimpleQueueService.NonExistentQueue`).
    fn from_code(code: &str) -> Self {
        match code.strip_prefix("AWS.SimpleQueueService.").unwrap_or(code) {
            "ReceiptHandleIsInvalid" => Self::InvalidReceiptHandle,
            "MessageNotInflight" => Self::NotInFlight,
            "QueueDoesNotExist" | "NonExistentQueue" => Self::NoSuchQueue,
            "AccessDenied" | "AccessDeniedException" => Self::AccessDenied,
            "RequestThrottled" | "ThrottlingException" | "Throttling" => Self::Throttled,
            "InvalidParameterValue" | "InvalidParameterValueException" => Self::Refused,
            _ => Self::Other,
        }
    }

    /// What failed, and what it means for the message.
    fn explanation(self) -> &'static str {
        match self {
            Self::InvalidReceiptHandle => {
                "the receipt handle is not one SQS gave for this queue; the message keeps its \
                 current visibility and comes back when it expires"
            }
            Self::NotInFlight => {
                "the message is no longer in flight (its visibility expired, or it was \
                 deleted); if it is still in the queue it can be received again at once"
            }
            Self::NoSuchQueue => {
                "the queue does not exist in this account and region; the message, if it \
                 exists, keeps its current visibility and comes back when it expires"
            }
            Self::AccessDenied => {
                "the function's role may not call sqs:ChangeMessageVisibility on the queue; \
                 the message keeps its current visibility and comes back when it expires"
            }
            Self::Throttled => {
                "SQS throttled the call; the message keeps its current visibility and comes \
                 back when it expires"
            }
            Self::Refused => {
                "SQS refused the visibility (a message may stay invisible for at most 12 hours \
                 after it was received); the message keeps its current visibility and comes \
                 back when it expires"
            }
            Self::Unreachable => {
                "SQS could not be reached or did not answer in time; the message most likely \
                 keeps its current visibility and comes back when it expires"
            }
            Self::DeadlinePassed => {
                "no time was left; the message keeps its current visibility and comes back \
                 when it expires"
            }
            Self::Other => {
                "the message keeps its current visibility and comes back when it expires"
            }
        }
    }
}

/// A message's visibility not set: why, and SQS's or the SDK's own words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VisibilityError {
    pub kind: VisibilityErrorKind,
    pub detail: String,
}

impl VisibilityError {
    /// Sorts an SDK error by its SQS error code, or as a network failure or a timeout.
    fn from_sdk<E, R>(error: SdkError<E, R>) -> Self
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
        R: fmt::Debug,
    {
        let kind = match (&error, error.code()) {
            (_, Some(code)) => VisibilityErrorKind::from_code(code),
            (SdkError::TimeoutError(_) | SdkError::DispatchFailure(_), None) => {
                VisibilityErrorKind::Unreachable
            }
            _ => VisibilityErrorKind::Other,
        };
        let detail = match (error.code(), error.message()) {
            (Some(code), Some(message)) => format!("{code}: {message}"),
            (Some(code), None) => code.to_owned(),
            _ => DisplayErrorContext(&error).to_string(),
        };
        Self { kind, detail }
    }
}

impl fmt::Display for VisibilityError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            formatter,
            "SQS ChangeMessageVisibility failed ({}): {}",
            self.detail,
            self.kind.explanation()
        )
    }
}

impl std::error::Error for VisibilityError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn release_delays_are_cut_to_twelve_hours() {
        assert_eq!(clamp_delay(0), 0);
        assert_eq!(clamp_delay(30), 30);
        assert_eq!(clamp_delay(43_200), 43_200);
        assert_eq!(clamp_delay(43_201), 43_200);
        assert_eq!(clamp_delay(50_000), 43_200);
        assert_eq!(clamp_delay(u64::MAX), MAX_VISIBILITY_SECONDS);
    }

    #[test]
    fn a_call_ends_by_the_deadline() {
        let now = Instant::now();
        assert_eq!(
            call_timeout(now + Duration::from_secs(60), now),
            Some(CALL_TIMEOUT)
        );
        assert_eq!(
            call_timeout(now + Duration::from_millis(300), now),
            Some(Duration::from_millis(300))
        );
        assert_eq!(call_timeout(now, now), None, "no time left");
        assert_eq!(
            call_timeout(now, now + Duration::from_secs(1)),
            None,
            "past"
        );
    }

    #[test]
    fn sqs_error_codes_are_sorted_in_both_their_forms() {
        use VisibilityErrorKind::*;
        for (code, kind) in [
            ("ReceiptHandleIsInvalid", InvalidReceiptHandle),
            ("AWS.SimpleQueueService.MessageNotInflight", NotInFlight),
            ("MessageNotInflight", NotInFlight),
            ("AWS.SimpleQueueService.NonExistentQueue", NoSuchQueue),
            ("QueueDoesNotExist", NoSuchQueue),
            ("AccessDenied", AccessDenied),
            ("AccessDeniedException", AccessDenied),
            ("RequestThrottled", Throttled),
            ("ThrottlingException", Throttled),
            ("InvalidParameterValue", Refused),
            ("InternalError", Other),
            ("AWS.SimpleQueueService.UnsupportedOperation", Other),
        ] {
            assert_eq!(VisibilityErrorKind::from_code(code), kind, "{code}");
        }
    }

    #[test]
    fn the_message_says_what_failed_and_what_becomes_of_the_message() {
        let error = VisibilityError {
            kind: VisibilityErrorKind::InvalidReceiptHandle,
            detail: "ReceiptHandleIsInvalid: The input receipt handle is invalid.".into(),
        };
        assert_eq!(
            error.to_string(),
            "SQS ChangeMessageVisibility failed (ReceiptHandleIsInvalid: The input receipt \
             handle is invalid.): the receipt handle is not one SQS gave for this queue; the \
             message keeps its current visibility and comes back when it expires"
        );
    }

    #[test]
    fn a_deadline_already_past_fails_before_any_client_is_made() {
        let mut visibility = Visibility::new();
        let error = visibility
            .set(
                "https://sqs.us-east-1.amazonaws.com/123456789012/q",
                "handle",
                10,
                Instant::now(),
            )
            .unwrap_err();
        assert_eq!(error.kind, VisibilityErrorKind::DeadlinePassed);
        assert!(visibility.sqs.is_none(), "no client made");
    }
}
