//! The deadline watcher of a batch: a thread that answers the invocation if PHP has not
//! by a given instant, then hands over to whatever must follow (the runtime's restart).
//!
//! A job's own timeout is PHP's `pcntl_alarm`, which applies Laravel's timeout rules. The
//! alarm is only delivered when PHP's VM gets control back, though: a job blocked in a C
//! call, or one that turned asynchronous signals off, would run into Lambda's deadline
//! and lose the whole batch's answer. The watcher is the backstop for that: one thread per
//! batch, asleep on a condition variable until its instant or until the batch is answered,
//! joined before the next invocation starts (the runtime changes its environment then,
//! which is sound only while it runs one thread).
//!
//! A process forked while the watcher runs (a job's `pcntl_fork`) has no such thread: the
//! copy of the handle in it is forgotten, never joined.

use std::io;
use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::Instant;

use crate::invocation::{Invocations, RuntimeApi};

/// A running watcher; [`Watcher::cancel`] (or dropping it) stops it.
pub struct Watcher {
    answered: Arc<(Mutex<bool>, Condvar)>,
    thread: Option<JoinHandle<()>>,
    /// The process that started the thread: only it can join it.
    owner: u32,
}

impl Watcher {
    /// Watches invocation `request_id`: unless cancelled before `at`, stops it (its
    /// function type's answer for the stop point, with a restart pending), then calls
    /// `then` if that answered it. `then` typically never returns (it restarts the process).
    pub fn start<A: RuntimeApi + 'static>(
        invocations: &'static Invocations<A>,
        request_id: String,
        at: Instant,
        then: impl FnOnce() + Send + 'static,
    ) -> io::Result<Self> {
        let answered = Arc::new((Mutex::new(false), Condvar::new()));
        let shared = Arc::clone(&answered);
        let thread = thread::Builder::new()
            .name("hover-deadline".into())
            .stack_size(64 * 1024)
            .spawn(move || {
                let (lock, condvar) = &*shared;
                let mut done = lock.lock().unwrap_or_else(PoisonError::into_inner);
                while !*done {
                    let now = Instant::now();
                    if now >= at {
                        break;
                    }
                    done = condvar
                        .wait_timeout(done, at - now)
                        .unwrap_or_else(PoisonError::into_inner)
                        .0;
                }
                if *done {
                    return;
                }
                drop(done);
                if invocations.stop(&request_id, true) {
                    then();
                }
            })?;
        Ok(Self {
            answered,
            thread: Some(thread),
            owner: std::process::id(),
        })
    }

    /// Stops watching and waits for the thread to end. If the watcher is answering at
    /// this moment, it does not end: the process is about to be replaced.
    pub fn cancel(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let Some(thread) = self.thread.take() else {
            return;
        };
        if std::process::id() != self.owner {
            // A fork: the thread exists only in the parent.
            std::mem::forget(thread);
            return;
        }
        let (lock, condvar) = &*self.answered;
        *lock.lock().unwrap_or_else(PoisonError::into_inner) = true;
        condvar.notify_one();
        let _ = thread.join();
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        self.stop();
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
    use std::sync::atomic::{AtomicBool, Ordering};
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

    fn core() -> (&'static Posts, &'static Invocations<&'static Posts>) {
        let posts: &'static Posts = Box::leak(Box::default());
        let core = Box::leak(Box::new(Invocations::new(
            posts,
            Box::new(SystemClock),
            LogFormat::Text,
        )));
        (posts, core)
    }

    fn begin(core: &Invocations<&'static Posts>, id: &str) {
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
    fn answers_at_its_instant_then_hands_over() {
        let (posts, core) = core();
        begin(core, "r1");
        let (handed_over, handed) = mpsc::channel();
        let at = Instant::now() + Duration::from_millis(50);
        let watcher = Watcher::start(core, "r1".into(), at, move || {
            handed_over.send(Instant::now()).unwrap();
        })
        .unwrap();
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
        watcher.cancel();
        assert_eq!(posts.0.lock().unwrap().len(), 1, "one answer");
    }

    #[test]
    fn cancelled_it_neither_answers_nor_hands_over_and_leaves_no_thread() {
        let (posts, core) = core();
        begin(core, "r2");
        let handed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&handed);
        let at = Instant::now() + Duration::from_millis(100);
        let watcher = Watcher::start(core, "r2".into(), at, move || {
            flag.store(true, Ordering::SeqCst);
        })
        .unwrap();
        let started = Instant::now();
        watcher.cancel();
        assert!(
            started.elapsed() < Duration::from_millis(90),
            "woken, not waited out"
        );
        assert_eq!(
            core.finish("r2", Answer::Response(b"done".to_vec())),
            Finish::Answered
        );
        thread::sleep(Duration::from_millis(150));
        assert!(!handed.load(Ordering::SeqCst));
        assert_eq!(
            *posts.0.lock().unwrap(),
            vec![("r2".into(), b"done".to_vec())]
        );
        assert!(!core.restart_pending());
    }

    #[test]
    fn an_invocation_answered_first_is_left_alone() {
        let (posts, core) = core();
        begin(core, "r3");
        let handed = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&handed);
        assert_eq!(
            core.finish("r3", Answer::Response(b"done".to_vec())),
            Finish::Answered
        );
        let watcher = Watcher::start(core, "r3".into(), Instant::now(), move || {
            flag.store(true, Ordering::SeqCst);
        })
        .unwrap();
        thread::sleep(Duration::from_millis(50));
        drop(watcher);
        assert!(!handed.load(Ordering::SeqCst));
        assert_eq!(posts.0.lock().unwrap().len(), 1);
    }
}
