//! The queue function type's invocation: a batch in flight, its records run one by one by
//! the PHP side (Laravel's worker), each outcome recorded here as it happens.
//!
//! The batch's state lives in the invocation core (as the invocation's [`Answers`]), so that
//! whichever way the invocation ends, its answer lists exactly the records whose jobs were
//! not deleted: the PHP side's [`BatchInFlight::answer`] after the last record, PHP's end
//! (`exit()`, a fatal error) mid-batch, or the deadline [`Watcher`] when a job hangs where
//! PHP's own timeout cannot reach it.
//!
//! Time: a record starts only if at least [`MIN_JOB_TIME`] is left before the stop point;
//! its job may run until the stop point ([`BatchInFlight::seconds_left`], PHP's alarm), and
//! the watcher answers halfway between the stop point and Lambda's deadline.

use std::sync::OnceLock;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crate::context::Context;
use crate::invocation::{Answer, Answers, Finish, Invocations, RuntimeApi};
use crate::log::Level;
use crate::queue::batch::{Batch, Outcome};
use crate::queue::event::{Queue, parse_event};
use crate::queue::message::Message;
use crate::queue::visibility::{Visibility, VisibilityError, VisibilityErrorKind};
use crate::queue::watcher::Watcher;
use crate::runtime_api::RuntimeApiError;

/// The least time a job is given: a record with less left before the stop point is not
/// started, and comes back unrun.
pub const MIN_JOB_TIME: Duration = Duration::from_secs(1);

/// The batch's state while it runs, kept in the invocation core.
struct BatchAnswers {
    batch: Batch,
}

impl Answers for BatchAnswers {
    /// PHP ended mid-batch: the records done are done; the one running and the rest come back.
    fn abandoned(&mut self, _exit_status: i64) -> Answer {
        Answer::Response(self.batch.response())
    }

    /// A job ran past the stop point: as when PHP ends.
    fn timed_out(&mut self, _elapsed: Duration) -> Answer {
        Answer::Response(self.batch.response())
    }
}

/// A batch of SQS records in flight.
pub struct BatchInFlight {
    pub context: Context,
    pub queue: Queue,
    pub messages: Vec<Message>,
    stop_at: Instant,
    /// When the watcher answers, and the latest a release call may end.
    watch_at: Instant,
    watcher: Option<&'static Watcher>,
    /// When the event arrived, for `HOVER_LOG_TIMINGS`.
    received: Instant,
    /// Set once SQS could not be reached for a release: later releases of the batch do not
    /// try again (each would wait out its timeouts), their records come back all the same.
    sqs_unreachable: AtomicBool,
}

/// Waits for the next SQS batch and puts it in flight, armed on `watcher` (the process's
/// deadline watcher, if it could be started); malformed events are answered with an error
/// meanwhile. `threads`: how many threads the runtime runs (its own: this one, the
/// watcher's, the job output's), to tell a thread something else started.
pub fn next_batch<A: RuntimeApi>(
    invocations: &Invocations<A>,
    watcher: Option<&'static Watcher>,
    threads: usize,
) -> Result<BatchInFlight, RuntimeApiError> {
    let (context, queue, messages, received) = loop {
        let invocation = invocations.next()?;
        let received = Instant::now();
        match parse_event(&invocation.payload) {
            Ok(event) => {
                let messages = event.records.into_iter().map(Message::from).collect();
                break (invocation.context, event.queue, messages, received);
            }
            Err(error) => invocations.refuse(&invocation.context.request_id, error),
        }
    };
    let messages: Vec<Message> = messages;
    let batch = Batch::new(
        messages.iter().map(|m| m.message_id.clone()).collect(),
        queue.is_fifo(),
    );
    let started = invocations.begin(context.clone(), Box::new(BatchAnswers { batch }));
    export_trace_id(&context, invocations.log(), threads);
    let watch_at = started.stop_at + (started.deadline - started.stop_at) / 2;
    if let Some(watcher) = watcher {
        watcher.arm(&context.request_id, watch_at);
    }
    Ok(BatchInFlight {
        context,
        queue,
        messages,
        stop_at: started.stop_at,
        watch_at,
        watcher,
        received,
        sqs_unreachable: AtomicBool::new(false),
    })
}

/// Starts the process's deadline watcher for `invocations`: it answers a batch still
/// running halfway between its stop point and its deadline, then calls `restart`. `None`
/// (logged) if no thread can be started: jobs are then bounded by their timeouts only.
pub fn start_watcher<A: RuntimeApi + 'static>(
    invocations: &'static Invocations<A>,
    restart: impl Fn() + Send + 'static,
) -> Option<Watcher> {
    let log = invocations.log();
    let restart = move || {
        log.write(
            Level::Error,
            None,
            "a job was still running close to the invocation's deadline, past its timeout (PHP's alarm could not stop it): the batch was answered (that record and the ones after it come back) and the runtime restarts",
        );
        restart();
    };
    Watcher::start(invocations, restart)
        .inspect_err(|error| {
            log.write(
                Level::Warn,
                None,
                &format!("cannot start the deadline watcher ({error}); jobs are bounded by their timeouts only"),
            );
        })
        .ok()
}

/// Whether the runtime logs its own time per batch (`HOVER_LOG_TIMINGS=1`, for the
/// benchmark).
fn log_timings() -> bool {
    static ON: OnceLock<bool> = OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("HOVER_LOG_TIMINGS").is_some_and(|value| value == "1"))
}

/// Sets `_X_AMZN_TRACE_ID` to the invocation's trace id (removes it when there is none),
/// as Lambda's own runtimes do, for the X-Ray SDKs the jobs use. Only while this process
/// runs the threads it expects (`threads`: this one, the deadline watcher, the job output
/// relay): a thread some extension started could be reading the environment.
fn export_trace_id(context: &Context, log: crate::log::LogFormat, threads: usize) {
    const NAME: &str = "_X_AMZN_TRACE_ID";
    if std::env::var(NAME).ok() == context.trace_id {
        return;
    }
    if crate::process::thread_count().ok() != Some(threads) {
        return log.write(
            Level::Warn,
            Some(&context.request_id),
            &format!("{NAME} is not updated: the runtime runs threads it did not start"),
        );
    }
    match &context.trace_id {
        // SAFETY: the only threads are this one, the deadline watcher and the job output
        // relay (counted just above), neither of which reads or writes the environment: the
        // watcher waits on its condition variable, disarmed until this batch is armed
        // below; the relay reads a pipe and writes to the kept stderr.
        Some(trace_id) => unsafe { std::env::set_var(NAME, trace_id) },
        // SAFETY: as above.
        None => unsafe { std::env::remove_var(NAME) },
    }
}

impl BatchInFlight {
    fn update<A: RuntimeApi, R>(
        &self,
        invocations: &Invocations<A>,
        f: impl FnOnce(&mut Batch) -> R,
    ) -> Option<R> {
        invocations.update(&self.context.request_id, |answers: &mut BatchAnswers| {
            f(&mut answers.batch)
        })
    }

    /// Takes the record to run next, marked running: the first one not run yet (on a FIFO
    /// queue, none after one that comes back), if at least [`MIN_JOB_TIME`] is left before
    /// the stop point.
    pub fn next<A: RuntimeApi>(&self, invocations: &Invocations<A>) -> Option<usize> {
        if self.stop_at.saturating_duration_since(Instant::now()) < MIN_JOB_TIME {
            let unrun = self.unrun(invocations).len();
            if unrun > 0 {
                invocations.log().write(
                    Level::Warn,
                    Some(&self.context.request_id),
                    &format!("{unrun} of the batch's records come back unrun: less than {} s was left before the invocation's stop point (a queue function's timeout must leave a job at least that)", MIN_JOB_TIME.as_secs()),
                );
            }
            return None;
        }
        self.update(invocations, |batch| {
            let index = batch.next_pending()?;
            batch.start(index);
            Some(index)
        })
        .flatten()
    }

    /// Time left before the stop point (zero once it has passed).
    pub fn time_left(&self) -> Duration {
        self.stop_at.saturating_duration_since(Instant::now())
    }

    /// Whole seconds left before the stop point, at least 1: the longest a job may run.
    pub fn seconds_left(&self) -> u64 {
        self.stop_at
            .saturating_duration_since(Instant::now())
            .as_secs()
            .max(1)
    }

    /// The job of the record at `index` was deleted: Lambda may delete the record.
    pub fn deleted<A: RuntimeApi>(&self, invocations: &Invocations<A>, index: usize) {
        self.update(invocations, |batch| batch.record(index, Outcome::Deleted));
    }

    /// Releases the record at `index`: its message becomes visible again in `delay`
    /// seconds (at most SQS's 12 hours), and the record comes back. Returns the seconds
    /// set; on failure the record still comes back, when the queue's visibility timeout
    /// ends.
    pub fn release<A: RuntimeApi>(
        &self,
        invocations: &Invocations<A>,
        visibility: &mut Visibility,
        index: usize,
        delay: u64,
    ) -> Result<u32, VisibilityError> {
        let message = &self.messages[index];
        let result = if self.sqs_unreachable.load(Ordering::Relaxed) {
            Err(VisibilityError {
                kind: VisibilityErrorKind::Unreachable,
                detail: "not tried: SQS could not be reached for an earlier release of this batch"
                    .into(),
            })
        } else {
            visibility.set(
                self.queue.url(),
                &message.receipt_handle,
                delay,
                self.watch_at,
            )
        };
        let outcome = match &result {
            Ok(seconds) => Outcome::Released { delay: *seconds },
            Err(error) => {
                if error.kind == VisibilityErrorKind::Unreachable {
                    self.sqs_unreachable.store(true, Ordering::Relaxed);
                }
                Outcome::Undetermined
            }
        };
        self.update(invocations, |batch| batch.record(index, outcome));
        result
    }

    /// The records not run (yet): the ones a batch answered now hands back unrun.
    pub fn unrun<A: RuntimeApi>(&self, invocations: &Invocations<A>) -> Vec<usize> {
        self.update(invocations, |batch| batch.pending())
            .unwrap_or_default()
    }

    /// Answers the batch: the records whose jobs were not deleted come back.
    pub fn answer<A: RuntimeApi>(self, invocations: &Invocations<A>) -> Finish {
        if let Some(watcher) = self.watcher {
            watcher.disarm();
        }
        // Empty when the invocation was answered already: then `finish` says so.
        let response = self
            .update(invocations, |batch| batch.response())
            .unwrap_or_default();
        let posting = Instant::now();
        let finish = invocations.finish(&self.context.request_id, Answer::Response(response));
        if log_timings() {
            invocations.log().write(
                Level::Info,
                Some(&self.context.request_id),
                &format!(
                    "timings: batch of {} records, {} us from the event to the answer posted (posting {} us)",
                    self.messages.len(),
                    self.received.elapsed().as_micros(),
                    posting.elapsed().as_micros()
                ),
            );
        }
        finish
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error_response::ErrorResponse;
    use crate::invocation::SystemClock;
    use crate::log::LogFormat;
    use crate::runtime_api::{Delivery, Invocation};
    use serde_json::{Value, json};
    use std::collections::VecDeque;
    use std::sync::Mutex;

    /// A Runtime API that hands out scripted invocations and records the answers.
    #[derive(Default)]
    struct Scripted {
        invocations: Mutex<VecDeque<Invocation>>,
        answers: Mutex<Vec<(String, Value)>>,
    }

    impl RuntimeApi for &'static Scripted {
        fn next_invocation(&self) -> Result<Invocation, RuntimeApiError> {
            self.invocations
                .lock()
                .unwrap()
                .pop_front()
                .ok_or_else(|| RuntimeApiError::Protocol("no more invocations".into()))
        }
        fn send_response(&self, id: &str, body: &[u8]) -> Result<Delivery, RuntimeApiError> {
            let body = serde_json::from_slice(body).unwrap();
            self.answers.lock().unwrap().push((id.into(), body));
            Ok(Delivery::Accepted)
        }
        fn send_error(&self, id: &str, error: &ErrorResponse) -> Result<(), RuntimeApiError> {
            let error = json!({"errorType": error.error_type});
            self.answers.lock().unwrap().push((id.into(), error));
            Ok(())
        }
    }

    type Core = &'static Invocations<&'static Scripted>;

    fn core(events: Vec<(Value, u64)>) -> (&'static Scripted, Core) {
        let api: &'static Scripted = Box::leak(Box::default());
        for (number, (event, remaining_ms)) in events.into_iter().enumerate() {
            api.invocations.lock().unwrap().push_back(Invocation {
                context: Context {
                    request_id: format!("r{number}"),
                    deadline_ms: crate::context::now_ms() + remaining_ms,
                    invoked_function_arn: String::new(),
                    trace_id: None,
                    client_context: None,
                    cognito_identity: None,
                },
                payload: event.to_string().into_bytes(),
            });
        }
        let core = Box::leak(Box::new(Invocations::new(
            api,
            Box::new(SystemClock),
            LogFormat::Text,
        )));
        (api, core)
    }

    fn event(queue: &str, ids: &[&str]) -> Value {
        let records: Vec<Value> = ids
            .iter()
            .map(|id| {
                json!({"messageId": id, "receiptHandle": format!("rh-{id}"), "body": "{}",
                       "attributes": {"ApproximateReceiveCount": "1"}, "messageAttributes": {},
                       "eventSource": "aws:sqs", "awsRegion": "us-east-1",
                       "eventSourceARN": format!("arn:aws:sqs:us-east-1:123456789012:{queue}")})
            })
            .collect();
        json!({ "Records": records })
    }

    fn failures(ids: &[&str]) -> Value {
        let items: Vec<Value> = ids.iter().map(|id| json!({"itemIdentifier": id})).collect();
        json!({ "batchItemFailures": items })
    }

    /// A watcher that must not fire.
    fn quiet(core: Core) -> Option<&'static Watcher> {
        Some(Box::leak(Box::new(
            Watcher::start(core, || panic!("the watcher must not fire in this test")).unwrap(),
        )))
    }

    #[test]
    fn a_malformed_event_is_refused_and_the_next_batch_runs() {
        let (api, core) = core(vec![
            (json!({"command": "migrate"}), 30_000),
            (event("jobs", &["a", "b", "c"]), 30_000),
        ]);
        let batch = next_batch(core, quiet(core), 2).unwrap();
        assert_eq!(batch.context.request_id, "r1");
        assert_eq!(
            batch.queue.url(),
            "https://sqs.us-east-1.amazonaws.com/123456789012/jobs"
        );
        assert_eq!(
            api.answers.lock().unwrap()[0],
            ("r0".into(), json!({"errorType": "Hover.InvalidEvent"}))
        );
        let mut ran = Vec::new();
        while let Some(index) = batch.next(core) {
            ran.push(index);
            if index != 1 {
                batch.deleted(core, index);
            }
        }
        assert_eq!(ran, [0, 1, 2]);
        assert_eq!(batch.unrun(core), Vec::<usize>::new());
        assert_eq!(batch.answer(core), Finish::Answered);
        assert_eq!(
            api.answers.lock().unwrap()[1],
            ("r1".into(), failures(&["b"]))
        );
    }

    #[test]
    fn with_less_than_a_second_before_the_stop_point_no_record_starts() {
        // 1.1 s left: the stop point is 220 ms before the deadline, 880 ms away.
        let (api, core) = core(vec![(event("jobs", &["a", "b"]), 1_100)]);
        let batch = next_batch(core, quiet(core), 2).unwrap();
        assert_eq!(batch.next(core), None);
        assert_eq!(batch.unrun(core), [0, 1]);
        assert_eq!(batch.seconds_left(), 1, "never 0, which cancels an alarm");
        batch.answer(core);
        assert_eq!(api.answers.lock().unwrap()[0].1, failures(&["a", "b"]));
    }

    #[test]
    fn a_job_may_run_until_the_stop_point() {
        let (_, core) = core(vec![(event("jobs", &["a"]), 10_000)]);
        let batch = next_batch(core, quiet(core), 2).unwrap();
        assert_eq!(batch.next(core), Some(0));
        // 10 s left, a 1 s margin: 8.99… whole seconds.
        assert_eq!(batch.seconds_left(), 8);
        batch.answer(core);
    }

    #[test]
    fn a_fifo_batch_stops_at_the_first_record_that_comes_back() {
        let (api, core) = core(vec![(event("orders.fifo", &["a", "b", "c"]), 30_000)]);
        let batch = next_batch(core, quiet(core), 2).unwrap();
        assert_eq!(batch.next(core), Some(0));
        batch.deleted(core, 0);
        assert_eq!(batch.next(core), Some(1));
        assert_eq!(batch.next(core), None, "b threw: c must not run before it");
        assert_eq!(batch.unrun(core), [2]);
        batch.answer(core);
        assert_eq!(api.answers.lock().unwrap()[0].1, failures(&["b", "c"]));
    }

    #[test]
    fn php_ending_mid_batch_answers_the_records_not_done() {
        let (api, core) = core(vec![(event("jobs", &["a", "b", "c"]), 30_000)]);
        let batch = next_batch(core, quiet(core), 2).unwrap();
        assert_eq!(batch.next(core), Some(0));
        batch.deleted(core, 0);
        assert_eq!(batch.next(core), Some(1));
        assert!(core.abandon(255));
        assert_eq!(api.answers.lock().unwrap()[0].1, failures(&["b", "c"]));
        assert_eq!(
            batch.answer(core),
            Finish::AlreadyAnswered {
                restart_pending: false
            }
        );
        assert_eq!(api.answers.lock().unwrap().len(), 1);
    }

    #[test]
    fn the_watcher_answers_a_batch_that_runs_too_long() {
        // 1.5 s left: the stop point is 300 ms before the deadline, the watcher 150 ms.
        let (api, core) = core(vec![(event("jobs", &["a", "b"]), 1_500)]);
        let (fired, watched) = std::sync::mpsc::channel();
        let fired = Mutex::new(fired);
        let watcher = Watcher::start(core, move || fired.lock().unwrap().send(()).unwrap());
        let batch = next_batch(core, Some(Box::leak(Box::new(watcher.unwrap()))), 2).unwrap();
        assert_eq!(batch.next(core), Some(0));
        let started = Instant::now();
        watched.recv_timeout(Duration::from_secs(5)).unwrap();
        let waited = started.elapsed();
        assert!(
            waited > Duration::from_millis(1_200) && waited < Duration::from_millis(1_450),
            "{waited:?}"
        );
        assert_eq!(api.answers.lock().unwrap()[0].1, failures(&["a", "b"]));
        assert!(core.restart_pending());
        assert_eq!(
            batch.answer(core),
            Finish::AlreadyAnswered {
                restart_pending: true
            }
        );
    }
}
