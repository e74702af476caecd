//! `HttpFunction`: php-fpm, the FastCGI client that talks to it, and the loop that turns
//! each invocation into one request and its response into one answer.
//!
//! A crash, a protocol failure or a request still running at its stop point costs that
//! one invocation an error answer (never a silent loss); then php-fpm is restarted and the
//! next invocation is served. Warmer events fan out ([`crate::warmer`]) and never reach
//! php-fpm.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::event::{self, Event, HttpRequest, Script};
use super::response;
use crate::context::Context;
use crate::error_response::{ErrorResponse, ErrorType};
use crate::fastcgi::{FastCgiClient, FastCgiError, Request, Response};
use crate::fpm::{CurrentRequest, FpmError, FpmSettings, LogSink, PhpFpm};
use crate::invocation::{Answer, Answers, Invocations, RuntimeApi};
use crate::log::{Level, LogFormat};
use crate::process;
use crate::runtime_api::{Invocation, RuntimeApiError};
use crate::warmer;

/// Lambda's limit on a response to a synchronous invocation.
pub const MAX_RESPONSE: usize = 6 * 1024 * 1024;
/// php-fpm's output kept for a response: what a response can hold, and room for headers.
/// The rest is counted, for the error that names the size.
const MAX_OUTPUT: usize = MAX_RESPONSE + 64 * 1024;
/// How long before the deadline a request still running is abandoned, when its budget
/// leaves it as much again: time to answer and restart php-fpm.
const REQUEST_MARGIN: Duration = Duration::from_secs(1);
/// How long php-fpm may take to accept connections after a (re)start.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a warmer ping holds its container, so that concurrent pings land on others.
const PING_HOLD: Duration = Duration::from_millis(50);
/// The variable that makes the runtime log its own time per invocation (for the benchmark).
const TIMINGS_VARIABLE: &str = "HOVER_LOG_TIMINGS";

/// The HTTP function of this process: php-fpm and what talks to it.
pub struct HttpFunction {
    fpm: PhpFpm,
    client: FastCgiClient,
    current: Arc<CurrentRequest>,
    log: LogFormat,
    /// Whether a request has gone through php-fpm since it started: its OPcache is filled.
    warm: bool,
    /// When php-fpm was started at init, and how long starting it kept the runtime.
    started: Instant,
    spawning: Duration,
    log_timings: bool,
}

/// The answers of an HTTP invocation that does not finish by itself.
struct RequestAnswers {
    /// `GET /path`, for messages.
    request_line: String,
}

impl Answers for RequestAnswers {
    fn abandoned(&mut self, exit_status: i64) -> Answer {
        Answer::Error(ErrorResponse::new(
            ErrorType::RuntimeExited,
            format!(
                "the runtime's PHP process ended with status {exit_status} while {} was served; it restarts",
                self.request_line
            ),
        ))
    }

    fn timed_out(&mut self, elapsed: Duration) -> Answer {
        Answer::Error(ErrorResponse::new(
            ErrorType::RequestTimeout,
            format!(
                "{} was still running after {} ms, close to the invocation's deadline; php-fpm is restarted",
                self.request_line,
                elapsed.as_millis()
            ),
        ))
    }
}

/// What became of one request sent to php-fpm.
enum Outcome {
    /// php-fpm answered; the response for Lambda, or why there is none.
    Answered(Answer),
    /// The stop point came first.
    TimedOut,
    /// php-fpm failed; the error that answers the invocation.
    Failed(ErrorResponse),
}

impl HttpFunction {
    /// Starts php-fpm, without waiting for it to accept connections: it gets ready while
    /// the application boots. `php_version` is the running PHP's `major.minor`.
    pub fn start(
        runtime_dir: &std::path::Path,
        php_version: &str,
        log: LogFormat,
    ) -> Result<Self, FpmError> {
        let settings =
            FpmSettings::from_env(runtime_dir, php_version, |name| std::env::var(name).ok())?;
        let socket = settings.socket();
        let started = Instant::now();
        let current = Arc::new(CurrentRequest::default());
        let fpm = PhpFpm::start(settings, LogSink::stderr(log), Arc::clone(&current))?;
        let spawning = started.elapsed();
        let client = FastCgiClient::new(&socket).map_err(|source| FpmError::Io {
            doing: format!("using {} as php-fpm's socket", socket.display()),
            source,
        })?;
        Ok(Self {
            fpm,
            client,
            current,
            log,
            warm: false,
            started,
            spawning,
            log_timings: std::env::var_os(TIMINGS_VARIABLE).is_some_and(|value| value == "1"),
        })
    }

    /// Waits until php-fpm accepts connections: the end of init for an HTTP function.
    pub fn wait_ready(&mut self) -> Result<(), FpmError> {
        let waiting = Instant::now();
        self.fpm.wait_ready(READY_TIMEOUT)?;
        if self.log_timings {
            self.log.write(
                Level::Info,
                None,
                &format!(
                    "timings: starting php-fpm took the runtime {} us; it was ready {} ms after, {} ms of which the runtime waited",
                    self.spawning.as_micros(),
                    self.started.elapsed().as_millis(),
                    waiting.elapsed().as_millis()
                ),
            );
        }
        Ok(())
    }

    /// Stops php-fpm and its workers.
    pub fn stop(&mut self) {
        self.fpm.stop();
    }

    /// Serves invocations until the Runtime API fails.
    pub fn serve<A: RuntimeApi>(
        &mut self,
        invocations: &Invocations<A>,
        script: &Script,
    ) -> RuntimeApiError {
        loop {
            match invocations.next() {
                Ok(invocation) => self.handle(invocations, script, invocation),
                Err(error) => return error,
            }
        }
    }

    fn handle<A: RuntimeApi>(
        &mut self,
        invocations: &Invocations<A>,
        script: &Script,
        invocation: Invocation,
    ) {
        let received = Instant::now();
        let context = invocation.context;
        let event = event::parse_event(
            &invocation.payload,
            script,
            &context.request_id,
            context.trace_id.as_deref(),
        );
        match event {
            Ok(Event::Request(request)) => {
                self.proxy(invocations, context, &request, received);
            }
            Ok(Event::Warmer { containers }) => {
                let started = invocations.begin(
                    context.clone(),
                    Box::new(RequestAnswers {
                        request_line: "the warmer".to_owned(),
                    }),
                );
                let report = warmer::warm(
                    &context.invoked_function_arn,
                    containers,
                    started.stop_at,
                    self.log,
                    &context.request_id,
                );
                invocations.finish(
                    &context.request_id,
                    Answer::Response(report.response_body()),
                );
            }
            Ok(Event::WarmerPing) => {
                let remaining = Duration::from_millis(context.remaining_time_ms());
                let started = invocations.begin(
                    context.clone(),
                    Box::new(RequestAnswers {
                        request_line: "a warmer ping".to_owned(),
                    }),
                );
                let fresh = !self.warm;
                if fresh {
                    let stop_at = request_stop_point(remaining, started.stop_at);
                    self.fill_opcache(script, &context, stop_at);
                }
                std::thread::sleep(PING_HOLD);
                let body = format!("{{\"warm\":true,\"fresh\":{fresh}}}");
                invocations.finish(&context.request_id, Answer::Response(body.into_bytes()));
            }
            Err(error) => invocations.refuse(&context.request_id, error),
        }
    }

    /// Sends one request through php-fpm and answers the invocation with its response.
    fn proxy<A: RuntimeApi>(
        &mut self,
        invocations: &Invocations<A>,
        context: Context,
        request: &HttpRequest,
        received: Instant,
    ) {
        let request_id = context.request_id.clone();
        let request_line = format!(
            "{} {}",
            request.param("REQUEST_METHOD").unwrap_or("?"),
            request.param("REQUEST_URI").unwrap_or("?")
        );
        let remaining = Duration::from_millis(context.remaining_time_ms());
        let started = invocations.begin(context, Box::new(RequestAnswers { request_line }));
        let stop_at = request_stop_point(remaining, started.stop_at);
        self.restart_if_exited(Some(&request_id));
        let exchange_started = Instant::now();
        let exchanged = self.send(request, stop_at, &request_id);
        let php_fpm = exchange_started.elapsed();
        let outcome = self.outcome(request, exchanged);
        let answered = Instant::now();
        match outcome {
            Outcome::Answered(answer) => {
                invocations.finish(&request_id, answer);
                self.restart_if_exited(Some(&request_id));
            }
            Outcome::TimedOut => {
                invocations.stop(&request_id, false);
                self.restart("a request ran past its stop point", &request_id);
            }
            Outcome::Failed(error) => {
                invocations.finish(&request_id, Answer::Error(error));
                self.restart("it failed a request", &request_id);
            }
        }
        if self.log_timings {
            let posting = answered.elapsed();
            let own = received.elapsed().saturating_sub(php_fpm);
            self.log.write(
                Level::Info,
                Some(&request_id),
                &format!(
                    "timings: runtime {} us (posting the answer {} us), php-fpm {} us",
                    own.as_micros(),
                    posting.as_micros(),
                    php_fpm.as_micros()
                ),
            );
        }
    }

    /// Sends `request` to php-fpm. A connection refused is retried once after a restart:
    /// php-fpm received nothing.
    fn send(
        &mut self,
        request: &HttpRequest,
        stop_at: Instant,
        request_id: &str,
    ) -> Result<Response, FastCgiError> {
        // The request id stays current until the next request: php-fpm's master relays
        // what a worker wrote to stderr a moment after the request ends, and what it logs
        // between requests (a worker recycled) follows from the last one.
        self.current.set(request_id);
        let mut result = self.exchange(request, stop_at, request_id);
        if let Err(FastCgiError::Connect(error)) = &result {
            let message = format!("php-fpm refused the connection ({error})");
            self.restart(&message, request_id);
            result = self.exchange(request, stop_at, request_id);
        }
        self.warm = true;
        result
    }

    /// What php-fpm's answer makes of the invocation.
    fn outcome(&self, request: &HttpRequest, exchanged: Result<Response, FastCgiError>) -> Outcome {
        match exchanged {
            Ok(output) => Outcome::Answered(self.response(request, &output)),
            Err(FastCgiError::Timeout { .. }) => Outcome::TimedOut,
            // Refused before php-fpm was reached: the event's fault, and php-fpm is fine.
            Err(error @ FastCgiError::ParamTooLarge { .. }) => {
                Outcome::Answered(Answer::Error(ErrorResponse::new(
                    ErrorType::InvalidEvent,
                    format!("the request cannot be sent to php-fpm: {error}"),
                )))
            }
            Err(error) => Outcome::Failed(ErrorResponse::new(
                ErrorType::PhpFpmFailed,
                format!("{error}; php-fpm is restarted"),
            )),
        }
    }

    fn exchange(
        &mut self,
        request: &HttpRequest,
        stop_at: Instant,
        request_id: &str,
    ) -> Result<Response, FastCgiError> {
        let log = self.log;
        let mut on_stderr = |bytes: &[u8]| {
            let text = String::from_utf8_lossy(bytes);
            log.write_all(
                Level::Info,
                Some(request_id),
                text.lines().filter(|line| !line.trim().is_empty()),
            );
        };
        let params: Vec<(&[u8], &[u8])> = request
            .params
            .iter()
            .map(|(name, value)| (name.as_bytes(), value.as_bytes()))
            .collect();
        self.client.send(
            &Request {
                params: &params,
                stdin: &request.body,
            },
            stop_at,
            MAX_OUTPUT,
            &mut on_stderr,
        )
    }

    /// The response for Lambda, or an error when it cannot be one.
    fn response(&self, request: &HttpRequest, output: &Response) -> Answer {
        if output.stdout_total > output.stdout.len() {
            return Answer::Error(too_large(output.stdout_total, "the application's output"));
        }
        match response::response(request.source, request.is_head, &output.stdout) {
            Ok(body) if body.len() > MAX_RESPONSE => {
                Answer::Error(too_large(body.len(), "the response"))
            }
            Ok(body) => Answer::Response(body),
            Err(error) => Answer::Error(error),
        }
    }

    /// A warmer ping on a fresh container: one request through php-fpm fills OPcache with
    /// the framework, so that the first real request does not pay for it.
    /// Bounded by the ping's own stop point: a request still running then is left to
    /// php-fpm's restart, and the ping answers.
    fn fill_opcache(&mut self, script: &Script, context: &Context, stop_at: Instant) {
        let ping = br#"{"version":"2.0","rawPath":"/","rawQueryString":"","headers":{"user-agent":"Hover warmer"},"requestContext":{"http":{"method":"GET","sourceIp":"127.0.0.1"}},"isBase64Encoded":false}"#;
        let Ok(Event::Request(request)) =
            event::parse_event(ping, script, &context.request_id, None)
        else {
            return;
        };
        let exchanged = self.send(&request, stop_at, &context.request_id);
        let failure = match self.outcome(&request, exchanged) {
            Outcome::Answered(_) => return,
            Outcome::TimedOut => "it was still running at the ping's stop point".to_owned(),
            Outcome::Failed(error) => error.error_message,
        };
        self.log.write(
            Level::Warn,
            Some(&context.request_id),
            &format!("warmer: the request that fills OPcache failed: {failure}"),
        );
        self.restart("it failed the warmer's request", &context.request_id);
    }

    /// Restarts php-fpm if it has ended (a crash noticed before or after a request).
    fn restart_if_exited(&mut self, request_id: Option<&str>) {
        if let Some(how) = self.fpm.exited() {
            self.restart(
                &format!("it ended ({how})"),
                request_id.unwrap_or("undefined"),
            );
        }
    }

    fn restart(&mut self, why: &str, request_id: &str) {
        self.log.write(
            Level::Warn,
            Some(request_id),
            &format!("php-fpm is restarted: {why}"),
        );
        if let Err(error) = self.fpm.restart(READY_TIMEOUT) {
            self.log.write(
                Level::Error,
                Some(request_id),
                &format!("php-fpm could not be restarted: {error}"),
            );
        }
        // Workers of a master that died were re-parented to the runtime.
        process::stop_orphans(&[self.fpm.pid()]);
    }
}

/// When a request is abandoned: a full [`REQUEST_MARGIN`] before the deadline when that
/// leaves it at least as much to run, else at the core's stop point (`core_stop_at`).
fn request_stop_point(remaining: Duration, core_stop_at: Instant) -> Instant {
    if remaining >= 2 * REQUEST_MARGIN {
        Instant::now() + (remaining - REQUEST_MARGIN)
    } else {
        core_stop_at
    }
}

fn too_large(size: usize, what: &str) -> ErrorResponse {
    ErrorResponse::new(
        ErrorType::ResponseTooLarge,
        format!(
            "{what} is {size} bytes, more than the {MAX_RESPONSE} bytes Lambda accepts for a response"
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_is_stopped_a_second_before_the_deadline_when_it_leaves_a_second_to_run() {
        let core = Instant::now() + Duration::from_millis(2_400);
        let stop_at = request_stop_point(Duration::from_millis(3_000), core);
        let left = stop_at.saturating_duration_since(Instant::now());
        assert!(
            left > Duration::from_millis(1_900) && left <= Duration::from_millis(2_000),
            "{left:?}"
        );
        let stop_at = request_stop_point(Duration::from_secs(2), core);
        let left = stop_at.saturating_duration_since(Instant::now());
        assert!(left > Duration::from_millis(900) && left <= Duration::from_secs(1));
    }

    #[test]
    fn a_shorter_budget_keeps_the_cores_stop_point() {
        let core = Instant::now() + Duration::from_millis(1_500);
        assert_eq!(request_stop_point(Duration::from_millis(1_999), core), core);
        assert_eq!(request_stop_point(Duration::from_millis(500), core), core);
    }
}
