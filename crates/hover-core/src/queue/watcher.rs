//! The deadline watcher of queue batches: a thread that answers the invocation in flight if
//! PHP has not by a given instant, then hands over to whatever must follow (the runtime's
//! restart).
//!
//! A job's own timeout is PHP's `pcntl_alarm`, which applies Laravel's timeout rules. The
//! alarm is only delivered when PHP's VM gets control back, though: a job blocked in a C
//! call, or one that turned asynchronous signals off, would run into Lambda's deadline and
//! lose the whole batch's answer. The watcher is the backstop for that.
//!
//! One thread serves the process's life, armed for each batch and disarmed when it is
//! answered, each a lock and a notification: a thread started and joined per batch cost
//! 100–170 µs a batch here (the join waits for the thread to be scheduled). While disarmed
//! it only waits on its condition variable; it never reads the environment, which the main
//! thread changes between batches (`_X_AMZN_TRACE_ID`).
//!
//! A process forked while the thread runs (a job's `pcntl_fork`) has no such thread, and
//! its copy of the lock may be held: there, arming and disarming do nothing.

use std::io;
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::Instant;

use crate::invocation::{Invocations, RuntimeApi};

/// What the watcher watches: an invocation and the instant it must be answered by.
struct Armed {
    request_id: String,
    at: Instant,
}

struct Shared {
    armed: Mutex<Option<Armed>>,
    wake: Condvar,
}

/// The watcher thread of a process.
pub struct Watcher {
    shared: Arc<Shared>,
    /// The process that started the thread: only there does it exist.
    owner: u32,
}

impl Watcher {
    /// Starts the thread. Once armed for an invocation of `invocations`, it stops that
    /// invocation at the armed instant unless disarmed before (the function type's answer
    /// for the stop point, with a restart pending), then calls `then` if that answered it.
    /// `then` typically never returns (it restarts the process); if it does, the watcher
    /// goes back to waiting.
    pub fn start<A: RuntimeApi + 'static>(
        invocations: &'static Invocations<A>,
        then: impl Fn() + Send + 'static,
    ) -> io::Result<Self> {
        let shared = Arc::new(Shared {
            armed: Mutex::new(None),
            wake: Condvar::new(),
        });
        let watching = Arc::clone(&shared);
        thread::Builder::new()
            .name("hover-deadline".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                loop {
                    let due = watching.wait_until_due();
                    if invocations.stop(&due, true) {
                        then();
                    }
                }
            })?;
        Ok(Self {
            shared,
            owner: std::process::id(),
        })
    }

    /// Watches invocation `request_id` until `at`, replacing what was watched.
    pub fn arm(&self, request_id: &str, at: Instant) {
        if let Some(mut armed) = self.lock() {
            *armed = Some(Armed {
                request_id: request_id.to_owned(),
                at,
            });
            self.shared.wake.notify_one();
        }
    }

    /// Stops watching: the invocation was answered. Returns at once; the thread is not
    /// woken (it finds nothing armed when its wait ends).
    pub fn disarm(&self) {
        if let Some(mut armed) = self.lock() {
            *armed = None;
        }
    }

    fn lock(&self) -> Option<MutexGuard<'_, Option<Armed>>> {
        (std::process::id() == self.owner).then(|| {
            self.shared
                .armed
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
        })
    }
}

impl Shared {
    /// Waits until an armed instant passes; disarms, and returns the invocation's id.
    fn wait_until_due(&self) -> String {
        let mut armed = self.armed.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let now = Instant::now();
            armed = match armed.as_ref() {
                Some(watched) if watched.at <= now => {
                    return armed.take().map(|due| due.request_id).unwrap_or_default();
                }
                Some(watched) => {
                    let wait = watched.at - now;
                    self.wake
                        .wait_timeout(armed, wait)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0
                }
                None => self
                    .wake
                    .wait(armed)
                    .unwrap_or_else(PoisonError::into_inner),
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::Context;
    use crate::error_response::ErrorResponse;
    use crate::invocation::{Answer, Answers, Finish, SystemClock};
    use crate::log::LogFormat;
    use crate::runtime_api::{Delivery, Invocation, RuntimeApiError};
    use std::sync::mpsc;
    use std::time::Duration;

    #[derive(Default)]
    struct Posts(Mutex<Vec<(String, Vec<u8>)>>);

    impl RuntimeApi for &'static Posts {
        fn next_invocation(&self) -> Result<Invocation, RuntimeApiError> {
            Err(RuntimeApiError::Protocol("none".into()))
        }
        fn send_response(&self, id: &str, body: &[u8]) -> Result<Delivery, RuntimeApiError> {
            self.0.lock().unwrap().push((id.into(), body.to_vec()));
            Ok(Delivery::Accepted)
        }
        fn send_error(&self, id: &str, error: &ErrorResponse) -> Result<(), RuntimeApiError> {
            self.0
                .lock()
                .unwrap()
                .push((id.into(), error.error_type.clone().into_bytes()));
            Ok(())
        }
    }

    struct Stopped;
    impl Answers for Stopped {
        fn abandoned(&mut self, _: i64) -> Answer {
            Answer::Response(b"abandoned".to_vec())
        }
        fn timed_out(&mut self, _: Duration) -> Answer {
            Answer::Response(b"stopped".to_vec())
        }
    }

    type Core = &'static Invocations<&'static Posts>;

    /// A core, and a watcher on it that reports when it handed over.
    fn watched() -> (&'static Posts, Core, Watcher, mpsc::Receiver<Instant>) {
        let posts: &'static Posts = Box::leak(Box::default());
        let core = Box::leak(Box::new(Invocations::new(
            posts,
            Box::new(SystemClock),
            LogFormat::Text,
        )));
        let (handed_over, handed) = mpsc::channel();
        let handed_over = Mutex::new(handed_over);
        let watcher = Watcher::start(core, move || {
            handed_over.lock().unwrap().send(Instant::now()).unwrap();
        })
        .unwrap();
        (posts, core, watcher, handed)
    }

    fn begin(core: Core, id: &str) {
        let context = Context {
            request_id: id.into(),
            deadline_ms: crate::context::now_ms() + 60_000,
            invoked_function_arn: String::new(),
            trace_id: None,
            client_context: None,
            cognito_identity: None,
        };
        core.begin(context, Box::new(Stopped));
    }

    #[test]
    fn answers_at_the_armed_instant_then_hands_over() {
        let (posts, core, watcher, handed) = watched();
        begin(core, "r1");
        let at = Instant::now() + Duration::from_millis(50);
        watcher.arm("r1", at);
        let when = handed.recv_timeout(Duration::from_secs(5)).unwrap();
        assert!(when >= at);
        assert_eq!(
            *posts.0.lock().unwrap(),
            vec![("r1".into(), b"stopped".to_vec())]
        );
        assert!(core.restart_pending());
        assert_eq!(
            core.finish("r1", Answer::Response(b"late".to_vec())),
            Finish::AlreadyAnswered {
                restart_pending: true
            }
        );
        watcher.disarm();
        assert_eq!(posts.0.lock().unwrap().len(), 1, "one answer");
    }

    #[test]
    fn disarmed_it_neither_answers_nor_hands_over_and_serves_the_next_batch() {
        let (posts, core, watcher, handed) = watched();
        for (id, answered) in [("r2", true), ("r3", false)] {
            begin(core, id);
            watcher.arm(id, Instant::now() + Duration::from_millis(100));
            if answered {
                let started = Instant::now();
                watcher.disarm();
                assert!(started.elapsed() < Duration::from_millis(10), "no wait");
                assert_eq!(
                    core.finish(id, Answer::Response(b"done".to_vec())),
                    Finish::Answered
                );
                assert!(handed.recv_timeout(Duration::from_millis(200)).is_err());
            } else {
                handed.recv_timeout(Duration::from_secs(5)).unwrap();
            }
        }
        assert_eq!(
            *posts.0.lock().unwrap(),
            vec![
                ("r2".into(), b"done".to_vec()),
                ("r3".into(), b"stopped".to_vec())
            ]
        );
    }

    #[test]
    fn an_invocation_answered_first_is_left_alone() {
        let (posts, core, watcher, handed) = watched();
        begin(core, "r4");
        assert_eq!(
            core.finish("r4", Answer::Response(b"done".to_vec())),
            Finish::Answered
        );
        watcher.arm("r4", Instant::now());
        assert!(handed.recv_timeout(Duration::from_millis(100)).is_err());
        assert_eq!(posts.0.lock().unwrap().len(), 1);
    }

    #[test]
    fn arming_again_moves_the_instant() {
        let (_, core, watcher, handed) = watched();
        begin(core, "r5");
        watcher.arm("r5", Instant::now() + Duration::from_secs(60));
        let soon = Instant::now() + Duration::from_millis(50);
        watcher.arm("r5", soon);
        assert!(handed.recv_timeout(Duration::from_secs(5)).unwrap() >= soon);
    }
}
