//! The invocation core: the one invocation this process has in flight, whatever the
//! function type, and the guarantee that it gets exactly one answer.
//!
//! An invocation ends in one of four ways: its function type finishes it
//! ([`Invocations::finish`]); PHP ends the process in the middle of it (`exit()`, a fatal
//! error: [`Invocations::abandon`]); its stop point before the deadline comes first
//! ([`Invocations::stop`], called by whatever watches the deadline); or the process is a
//! fork of the runtime (a CLI command, a child a job forked), which never answers. Each
//! function type supplies its answers for the two endings it does not choose, as an
//! [`Answers`] value kept with the invocation; that value is also where the type records
//! progress (a queue's finished records), so the answer given on abandonment or at the stop
//! point reflects what was done.
//!
//! Every ending takes the invocation out of one slot under one lock, so of any number of
//! racing endings exactly one answers. The Runtime API client and the clock are injected,
//! which lets the races be tested deterministically.

use std::any::Any;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

use crate::context::Context;
use crate::error_response::{ErrorResponse, ErrorType};
use crate::log::{Level, LogFormat};
use crate::runtime_api::{Delivery, Invocation, RuntimeApiClient, RuntimeApiError};

/// The stop point leaves this much before the deadline when the budget allows: time to
/// stop the work, answer, and be done before Lambda kills the process.
const MAX_STOP_MARGIN: Duration = Duration::from_secs(1);
/// ... and never less than this, however short the budget.
const MIN_STOP_MARGIN: Duration = Duration::from_millis(100);

/// How long before the deadline an invocation with `remaining` time is stopped: a fifth of
/// the budget, at least [`MIN_STOP_MARGIN`] and at most [`MAX_STOP_MARGIN`]. With Lambda's
/// shortest timeout (1 s) a command gets 800 ms instead of nothing; from 5 s up, the margin
/// is the full second.
pub fn stop_margin(remaining: Duration) -> Duration {
    (remaining / 5)
        .clamp(MIN_STOP_MARGIN, MAX_STOP_MARGIN)
        .min(remaining)
}

/// An answer for the Runtime API: the function type's response, or an error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    Response(Vec<u8>),
    Error(ErrorResponse),
}

/// A function type's answers for the endings it does not choose itself, and the state it
/// records while the invocation runs.
pub trait Answers: Any + Send {
    /// PHP ended the process mid-invocation (`exit()`, a fatal error) with `exit_status`.
    fn abandoned(&mut self, exit_status: i64) -> Answer;
    /// The stop point came, `elapsed` after the invocation started.
    fn timed_out(&mut self, elapsed: Duration) -> Answer;
}

/// The Lambda Runtime API as the core uses it; [`RuntimeApiClient`] in production.
pub trait RuntimeApi: Send + Sync {
    fn next_invocation(&self) -> Result<Invocation, RuntimeApiError>;
    fn send_response(&self, request_id: &str, body: &[u8]) -> Result<Delivery, RuntimeApiError>;
    fn send_error(&self, request_id: &str, error: &ErrorResponse) -> Result<(), RuntimeApiError>;
}

impl RuntimeApi for RuntimeApiClient {
    fn next_invocation(&self) -> Result<Invocation, RuntimeApiError> {
        RuntimeApiClient::next_invocation(self)
    }
    fn send_response(&self, request_id: &str, body: &[u8]) -> Result<Delivery, RuntimeApiError> {
        RuntimeApiClient::send_response(self, request_id, body)
    }
    fn send_error(&self, request_id: &str, error: &ErrorResponse) -> Result<(), RuntimeApiError> {
        RuntimeApiClient::send_error(self, request_id, error)
    }
}

/// Time as the core reads it: a monotonic clock for stop points, the wall clock for
/// Lambda's deadlines (milliseconds since the epoch).
pub trait Clock: Send + Sync {
    fn now(&self) -> Instant;
    fn epoch_ms(&self) -> u64;
}

/// The machine's clocks.
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn epoch_ms(&self) -> u64 {
        crate::context::now_ms()
    }
}

/// An invocation the core has started: what the function type needs to run it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Started {
    pub request_id: String,
    /// When the work must stop to leave time for an answer.
    pub stop_at: Instant,
    /// When Lambda stops the invocation.
    pub deadline: Instant,
}

/// What became of [`Invocations::finish`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Finish {
    /// This call answered the invocation.
    Answered,
    /// Something else answered it first. With `restart_pending`, the stop point answered
    /// it and the process is about to be replaced: the caller must wait for that, neither
    /// fetching another invocation (the restart would lose it) nor exiting.
    AlreadyAnswered { restart_pending: bool },
    /// This process is a fork of the runtime; only the runtime answers.
    NotTheRuntime,
}

struct InFlight {
    context: Context,
    started: Instant,
    answers: Box<dyn Answers>,
}

/// The invocation in flight in this process, answered exactly once.
pub struct Invocations<A = RuntimeApiClient> {
    api: A,
    clock: Box<dyn Clock>,
    log: LogFormat,
    in_flight: Mutex<Option<InFlight>>,
    /// Set, in the same critical section that takes the invocation, when the stop point
    /// answered it and the process will be replaced.
    restart_pending: AtomicBool,
    /// The process that booted; a fork shares this memory and must never answer.
    runtime_pid: u32,
    current_pid: fn() -> u32,
}

impl<A: RuntimeApi> Invocations<A> {
    /// The core of the process calling it.
    pub fn new(api: A, clock: Box<dyn Clock>, log: LogFormat) -> Self {
        Self::with_process(api, clock, log, std::process::id(), std::process::id)
    }

    /// The core of process `runtime_pid`, with `current_pid` telling which process is
    /// running (injected so that tests can play a fork).
    pub fn with_process(
        api: A,
        clock: Box<dyn Clock>,
        log: LogFormat,
        runtime_pid: u32,
        current_pid: fn() -> u32,
    ) -> Self {
        Self {
            api,
            clock,
            log,
            in_flight: Mutex::new(None),
            restart_pending: AtomicBool::new(false),
            runtime_pid,
            current_pid,
        }
    }

    pub fn api(&self) -> &A {
        &self.api
    }

    pub fn log(&self) -> LogFormat {
        self.log
    }

    /// Whether this process is the runtime, not a fork of it.
    pub fn is_runtime_process(&self) -> bool {
        (self.current_pid)() == self.runtime_pid
    }

    /// Whether the stop point answered an invocation and a restart is pending.
    pub fn restart_pending(&self) -> bool {
        self.restart_pending.load(Ordering::SeqCst)
    }

    /// Waits for the next invocation (`/next`).
    pub fn next(&self) -> Result<Invocation, RuntimeApiError> {
        self.api.next_invocation()
    }

    /// Puts an invocation in flight, replacing none (the previous one was answered), with
    /// the function type's `answers`; returns its stop point.
    pub fn begin(&self, context: Context, answers: Box<dyn Answers>) -> Started {
        let remaining =
            Duration::from_millis(context.deadline_ms.saturating_sub(self.clock.epoch_ms()));
        let now = self.clock.now();
        let started = Started {
            request_id: context.request_id.clone(),
            stop_at: now + remaining - stop_margin(remaining),
            deadline: now + remaining,
        };
        let previous = self.slot().replace(InFlight {
            context,
            started: now,
            answers,
        });
        debug_assert!(previous.is_none(), "an invocation was left unanswered");
        started
    }

    /// Updates the function type's state of invocation `request_id`, if it is in flight and
    /// its answers are a `T`.
    pub fn update<T: Answers, R>(
        &self,
        request_id: &str,
        f: impl FnOnce(&mut T) -> R,
    ) -> Option<R> {
        let mut slot = self.slot();
        let in_flight = slot
            .as_mut()
            .filter(|i| i.context.request_id == request_id)?;
        let answers: &mut dyn Any = in_flight.answers.as_mut();
        answers.downcast_mut::<T>().map(f)
    }

    /// How long invocation `request_id` has run, if it is in flight.
    pub fn elapsed(&self, request_id: &str) -> Option<Duration> {
        let slot = self.slot();
        let in_flight = slot
            .as_ref()
            .filter(|i| i.context.request_id == request_id)?;
        Some(
            self.clock
                .now()
                .saturating_duration_since(in_flight.started),
        )
    }

    /// The function type finished invocation `request_id` with `answer`.
    pub fn finish(&self, request_id: &str, answer: Answer) -> Finish {
        if !self.is_runtime_process() {
            return Finish::NotTheRuntime;
        }
        if self.take(request_id, false).is_none() {
            return Finish::AlreadyAnswered {
                restart_pending: self.restart_pending(),
            };
        }
        self.deliver(request_id, answer);
        Finish::Answered
    }

    /// PHP is ending the process with `exit_status` (`exit()`, a fatal error): answers the
    /// invocation in flight, if any, with the function type's answer for that. Returns
    /// whether it answered one. Does nothing in a fork of the runtime.
    pub fn abandon(&self, exit_status: i64) -> bool {
        if !self.is_runtime_process() {
            return false;
        }
        let Some(mut in_flight) = self.slot().take() else {
            return false;
        };
        let answer = in_flight.answers.abandoned(exit_status);
        self.deliver(&in_flight.context.request_id, answer);
        true
    }

    /// The stop point of invocation `request_id` came: answers it with the function type's
    /// answer for that, unless something answered it first. With `then_restart`, the
    /// process is marked as about to be replaced in the same critical section, so that a
    /// finish that comes later knows to wait. Returns whether it answered.
    pub fn stop(&self, request_id: &str, then_restart: bool) -> bool {
        if !self.is_runtime_process() {
            return false;
        }
        let Some(mut in_flight) = self.take(request_id, then_restart) else {
            return false;
        };
        let elapsed = self
            .clock
            .now()
            .saturating_duration_since(in_flight.started);
        let answer = in_flight.answers.timed_out(elapsed);
        self.deliver(request_id, answer);
        true
    }

    /// Answers an invocation that never went in flight (its event was refused).
    pub fn refuse(&self, request_id: &str, error: ErrorResponse) {
        if self.is_runtime_process() {
            self.deliver(request_id, Answer::Error(error));
        }
    }

    fn take(&self, request_id: &str, then_restart: bool) -> Option<InFlight> {
        let mut slot = self.slot();
        if slot.as_ref()?.context.request_id != request_id {
            return None;
        }
        if then_restart {
            self.restart_pending.store(true, Ordering::SeqCst);
        }
        slot.take()
    }

    fn slot(&self) -> MutexGuard<'_, Option<InFlight>> {
        self.in_flight
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Posts `answer`. A response Lambda refuses as too large becomes an error, so that
    /// the caller learns why; an invocation Lambda has closed already (403) had its answer.
    fn deliver(&self, request_id: &str, answer: Answer) {
        let error = match answer {
            Answer::Response(body) => match self.api.send_response(request_id, &body) {
                Ok(Delivery::Accepted) => return,
                Ok(Delivery::TooLarge(refusal)) => ErrorResponse::new(
                    ErrorType::ResponseTooLarge,
                    format!(
                        "the response is {} bytes, more than Lambda accepts: {refusal}",
                        body.len()
                    ),
                ),
                Err(failure) => {
                    return self.log.write(
                        Level::Error,
                        Some(request_id),
                        &format!("could not send the response: {failure}"),
                    );
                }
            },
            Answer::Error(error) => error,
        };
        self.log.write(
            Level::Error,
            Some(request_id),
            &format!("{}: {}", error.error_type, error.error_message),
        );
        match self.api.send_error(request_id, &error) {
            Ok(()) => {}
            Err(RuntimeApiError::Rejected {
                status: 403, body, ..
            }) => self.log.write(
                Level::Warn,
                Some(request_id),
                &format!("Lambda no longer takes an answer for this invocation: {body}"),
            ),
            Err(failure) => self.log.write(
                Level::Error,
                Some(request_id),
                &format!("could not send the error: {failure}"),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU32;
    use std::sync::{Arc, Barrier};
    use std::thread;

    /// What the fake Runtime API was sent.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum Post {
        Response(String, Vec<u8>),
        Error(String, String),
    }

    /// A Runtime API that records every answer; `too_large` makes it refuse responses
    /// with a 413, as Lambda does over 6 MB.
    #[derive(Default)]
    struct RecordingApi {
        posts: Mutex<Vec<Post>>,
        too_large: bool,
    }

    impl RuntimeApi for Arc<RecordingApi> {
        fn next_invocation(&self) -> Result<Invocation, RuntimeApiError> {
            Err(RuntimeApiError::Protocol("no invocations in tests".into()))
        }
        fn send_response(
            &self,
            request_id: &str,
            body: &[u8],
        ) -> Result<Delivery, RuntimeApiError> {
            if self.too_large {
                return Ok(Delivery::TooLarge("payload too large".into()));
            }
            self.posts
                .lock()
                .unwrap()
                .push(Post::Response(request_id.into(), body.to_vec()));
            Ok(Delivery::Accepted)
        }
        fn send_error(
            &self,
            request_id: &str,
            error: &ErrorResponse,
        ) -> Result<(), RuntimeApiError> {
            self.posts
                .lock()
                .unwrap()
                .push(Post::Error(request_id.into(), error.error_type.clone()));
            Ok(())
        }
    }

    /// A clock that moves only when told.
    struct FakeClock {
        start: Instant,
        offset_ms: Arc<AtomicU32>,
        epoch_at_start: u64,
    }

    impl Clock for FakeClock {
        fn now(&self) -> Instant {
            self.start + Duration::from_millis(u64::from(self.offset_ms.load(Ordering::SeqCst)))
        }
        fn epoch_ms(&self) -> u64 {
            self.epoch_at_start + u64::from(self.offset_ms.load(Ordering::SeqCst))
        }
    }

    /// A function type whose answers say which ending produced them.
    struct Labelled {
        done: u32,
    }

    impl Answers for Labelled {
        fn abandoned(&mut self, exit_status: i64) -> Answer {
            Answer::Response(format!("abandoned {exit_status} after {}", self.done).into_bytes())
        }
        fn timed_out(&mut self, elapsed: Duration) -> Answer {
            let _ = elapsed;
            Answer::Error(ErrorResponse::named(
                format!("Test.TimedOutAfter{}", self.done),
                "stopped",
            ))
        }
    }

    const EPOCH: u64 = 1_700_000_000_000;
    static FORKED: AtomicU32 = AtomicU32::new(0);

    fn runtime_pid() -> u32 {
        1
    }
    fn forked_pid() -> u32 {
        FORKED.load(Ordering::SeqCst)
    }

    struct Fixture {
        api: Arc<RecordingApi>,
        clock_ms: Arc<AtomicU32>,
        core: Invocations<Arc<RecordingApi>>,
    }

    fn fixture_with(api: RecordingApi, current_pid: fn() -> u32) -> Fixture {
        let api = Arc::new(api);
        let clock_ms = Arc::new(AtomicU32::new(0));
        let clock = FakeClock {
            start: Instant::now(),
            offset_ms: Arc::clone(&clock_ms),
            epoch_at_start: EPOCH,
        };
        let core = Invocations::with_process(
            Arc::clone(&api),
            Box::new(clock),
            LogFormat::Text,
            1,
            current_pid,
        );
        Fixture {
            api,
            clock_ms,
            core,
        }
    }

    fn fixture() -> Fixture {
        fixture_with(RecordingApi::default(), runtime_pid)
    }

    fn context(request_id: &str, remaining_ms: u64) -> Context {
        Context {
            request_id: request_id.into(),
            deadline_ms: EPOCH + remaining_ms,
            invoked_function_arn: String::new(),
            trace_id: None,
            client_context: None,
            cognito_identity: None,
        }
    }

    impl Fixture {
        fn begin(&self, request_id: &str) -> Started {
            self.core
                .begin(context(request_id, 30_000), Box::new(Labelled { done: 0 }))
        }
        fn posts(&self) -> Vec<Post> {
            self.api.posts.lock().unwrap().clone()
        }
    }

    #[test]
    fn the_stop_margin_is_a_fifth_of_the_budget_between_100_ms_and_1_s() {
        let ms = Duration::from_millis;
        assert_eq!(stop_margin(ms(900_000)), ms(1_000));
        assert_eq!(stop_margin(ms(5_000)), ms(1_000));
        assert_eq!(stop_margin(ms(3_000)), ms(600));
        assert_eq!(stop_margin(ms(1_000)), ms(200), "Lambda's shortest timeout");
        assert_eq!(stop_margin(ms(300)), ms(100));
        assert_eq!(stop_margin(ms(40)), ms(40), "never past the deadline");
        assert_eq!(stop_margin(ms(0)), ms(0));
    }

    #[test]
    fn the_stop_point_follows_the_deadline_and_the_clock() {
        let fixture = fixture();
        fixture.clock_ms.store(250, Ordering::SeqCst);
        let now = fixture.core.clock.now();
        let started = fixture
            .core
            .begin(context("req-1", 1_250), Box::new(Labelled { done: 0 }));
        assert_eq!(started.request_id, "req-1");
        assert_eq!(started.stop_at, now + Duration::from_millis(800));
        let started_late = {
            fixture.core.finish("req-1", Answer::Response(vec![]));
            fixture
                .core
                .begin(context("req-2", 200), Box::new(Labelled { done: 0 }))
        };
        assert_eq!(
            started_late.stop_at, now,
            "a deadline already passed stops at once"
        );
    }

    #[test]
    fn finishing_answers_once() {
        let fixture = fixture();
        fixture.begin("req-1");
        assert_eq!(
            fixture
                .core
                .finish("req-1", Answer::Response(b"ok".to_vec())),
            Finish::Answered
        );
        assert_eq!(
            fixture
                .core
                .finish("req-1", Answer::Response(b"again".to_vec())),
            Finish::AlreadyAnswered {
                restart_pending: false
            }
        );
        assert_eq!(
            fixture.posts(),
            [Post::Response("req-1".into(), b"ok".to_vec())]
        );
    }

    #[test]
    fn finish_before_the_stop_point_wins_and_the_stop_point_does_nothing() {
        let fixture = fixture();
        fixture.begin("req-1");
        fixture
            .core
            .finish("req-1", Answer::Response(b"done".to_vec()));
        assert!(!fixture.core.stop("req-1", true));
        assert!(
            !fixture.core.restart_pending(),
            "no restart for an answered invocation"
        );
        assert_eq!(
            fixture.posts(),
            [Post::Response("req-1".into(), b"done".to_vec())]
        );
    }

    #[test]
    fn the_stop_point_before_finish_wins_and_finish_learns_a_restart_is_pending() {
        let fixture = fixture();
        fixture.begin("req-1");
        fixture
            .core
            .update("req-1", |state: &mut Labelled| state.done = 3)
            .unwrap();
        assert!(fixture.core.stop("req-1", true));
        assert_eq!(
            fixture
                .core
                .finish("req-1", Answer::Response(b"late".to_vec())),
            Finish::AlreadyAnswered {
                restart_pending: true
            }
        );
        assert_eq!(
            fixture.posts(),
            [Post::Error("req-1".into(), "Test.TimedOutAfter3".into())],
            "the timeout answer reflects the progress recorded"
        );
    }

    #[test]
    fn a_stale_stop_point_never_answers_the_next_invocation() {
        let fixture = fixture();
        fixture.begin("req-1");
        fixture.core.finish("req-1", Answer::Response(vec![]));
        fixture.begin("req-2");
        assert!(!fixture.core.stop("req-1", true));
        assert_eq!(
            fixture.core.finish("req-2", Answer::Response(vec![])),
            Finish::Answered
        );
    }

    #[test]
    fn abandoning_answers_with_the_types_answer_and_the_stop_point_then_does_nothing() {
        let fixture = fixture();
        fixture.begin("req-1");
        fixture
            .core
            .update("req-1", |state: &mut Labelled| state.done = 2);
        assert!(fixture.core.abandon(7));
        assert!(!fixture.core.stop("req-1", true));
        assert!(!fixture.core.abandon(7), "nothing left in flight");
        assert_eq!(
            fixture.posts(),
            [Post::Response(
                "req-1".into(),
                b"abandoned 7 after 2".to_vec()
            )]
        );
    }

    #[test]
    fn the_stop_point_before_abandoning_wins() {
        let fixture = fixture();
        fixture.begin("req-1");
        assert!(fixture.core.stop("req-1", true));
        assert!(!fixture.core.abandon(255));
        assert_eq!(
            fixture.posts(),
            [Post::Error("req-1".into(), "Test.TimedOutAfter0".into())]
        );
    }

    #[test]
    fn a_fork_of_the_runtime_never_answers() {
        FORKED.store(2, Ordering::SeqCst);
        let fixture = fixture_with(RecordingApi::default(), forked_pid);
        fixture.begin("req-1");
        assert!(!fixture.core.is_runtime_process());
        assert_eq!(
            fixture.core.finish("req-1", Answer::Response(vec![])),
            Finish::NotTheRuntime
        );
        assert!(!fixture.core.abandon(0));
        assert!(!fixture.core.stop("req-1", true));
        fixture
            .core
            .refuse("req-1", ErrorResponse::named("Test.Refused", ""));
        assert_eq!(fixture.posts(), []);
        assert!(!fixture.core.restart_pending());
        // The runtime itself (same memory, its own pid) still has it in flight.
        FORKED.store(1, Ordering::SeqCst);
        assert_eq!(
            fixture.core.finish("req-1", Answer::Response(vec![])),
            Finish::Answered
        );
    }

    #[test]
    fn a_response_lambda_refuses_as_too_large_becomes_an_error() {
        let fixture = fixture_with(
            RecordingApi {
                too_large: true,
                ..RecordingApi::default()
            },
            runtime_pid,
        );
        fixture.begin("req-1");
        fixture
            .core
            .finish("req-1", Answer::Response(vec![b'x'; 10]));
        assert_eq!(
            fixture.posts(),
            [Post::Error(
                "req-1".into(),
                ErrorType::ResponseTooLarge.code().into()
            )]
        );
    }

    #[test]
    fn update_reaches_only_the_invocation_in_flight_and_its_own_type() {
        struct Other;
        impl Answers for Other {
            fn abandoned(&mut self, _: i64) -> Answer {
                unreachable!()
            }
            fn timed_out(&mut self, _: Duration) -> Answer {
                unreachable!()
            }
        }
        let fixture = fixture();
        fixture.begin("req-1");
        assert_eq!(
            fixture.core.update("req-2", |s: &mut Labelled| s.done),
            None
        );
        assert_eq!(fixture.core.update("req-1", |_: &mut Other| ()), None);
        assert_eq!(
            fixture.core.update("req-1", |s: &mut Labelled| s.done),
            Some(0)
        );
    }

    /// Real threads racing each ending against the stop point, many times: every
    /// invocation gets exactly one answer.
    #[test]
    fn racing_endings_answer_exactly_once() {
        let fixture = Arc::new(fixture());
        for round in 0..300 {
            let request_id = format!("req-{round}");
            fixture.begin(&request_id);
            let barrier = Arc::new(Barrier::new(2));
            let stopper = {
                let (fixture, barrier, request_id) = (
                    Arc::clone(&fixture),
                    Arc::clone(&barrier),
                    request_id.clone(),
                );
                thread::spawn(move || {
                    barrier.wait();
                    fixture.core.stop(&request_id, false)
                })
            };
            barrier.wait();
            let ended = if round % 2 == 0 {
                fixture.core.finish(&request_id, Answer::Response(vec![])) == Finish::Answered
            } else {
                fixture.core.abandon(1)
            };
            let stopped = stopper.join().unwrap();
            assert!(ended ^ stopped, "round {round}: one ending answers");
        }
        let posts = fixture.posts();
        assert_eq!(posts.len(), 300);
        for (round, post) in posts.iter().enumerate() {
            let id = match post {
                Post::Response(id, _) | Post::Error(id, _) => id,
            };
            assert_eq!(id, &format!("req-{round}"));
        }
    }
}
