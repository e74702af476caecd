//! The deadline watchdog: one thread that wakes when the invocation in flight reaches its
//! stop time, whatever the PHP side is doing (sleeping, blocked on I/O, looping).

use std::sync::{Condvar, Mutex, PoisonError};
use std::time::Instant;

struct Alarm {
    request_id: String,
    at: Instant,
}

#[derive(Default)]
pub(crate) struct Watchdog {
    alarm: Mutex<Option<Alarm>>,
    changed: Condvar,
}

impl Watchdog {
    /// Sets the alarm for `request_id`, replacing any other.
    pub(crate) fn arm(&self, request_id: &str, at: Instant) {
        *self.alarm.lock().unwrap_or_else(PoisonError::into_inner) = Some(Alarm {
            request_id: request_id.to_owned(),
            at,
        });
        self.changed.notify_one();
    }

    pub(crate) fn disarm(&self) {
        *self.alarm.lock().unwrap_or_else(PoisonError::into_inner) = None;
        self.changed.notify_one();
    }

    /// Runs forever on its own thread, calling `on_alarm` with the request id of each alarm
    /// that goes off. An alarm goes off once.
    pub(crate) fn run(&self, on_alarm: impl Fn(&str)) -> ! {
        let mut alarm = self.alarm.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            let Some(armed) = alarm.as_ref() else {
                alarm = self
                    .changed
                    .wait(alarm)
                    .unwrap_or_else(PoisonError::into_inner);
                continue;
            };
            let now = Instant::now();
            if now < armed.at {
                let wait = armed.at - now;
                alarm = self
                    .changed
                    .wait_timeout(alarm, wait)
                    .unwrap_or_else(PoisonError::into_inner)
                    .0;
                continue;
            }
            let request_id = alarm
                .take()
                .map(|armed| armed.request_id)
                .unwrap_or_default();
            drop(alarm);
            on_alarm(&request_id);
            alarm = self.alarm.lock().unwrap_or_else(PoisonError::into_inner);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, mpsc};
    use std::thread;
    use std::time::Duration;

    fn start() -> (Arc<Watchdog>, mpsc::Receiver<(String, Instant)>) {
        let watchdog = Arc::new(Watchdog::default());
        let (fired, alarms) = mpsc::channel();
        let running = Arc::clone(&watchdog);
        thread::spawn(move || {
            running.run(move |id| fired.send((id.to_owned(), Instant::now())).unwrap())
        });
        (watchdog, alarms)
    }

    #[test]
    fn an_alarm_goes_off_at_its_time_and_once() {
        let (watchdog, alarms) = start();
        let at = Instant::now() + Duration::from_millis(80);
        watchdog.arm("req-1", at);
        let (id, when) = alarms.recv_timeout(Duration::from_secs(2)).unwrap();
        assert_eq!(id, "req-1");
        assert!(when >= at, "went off early");
        assert!(
            alarms.recv_timeout(Duration::from_millis(150)).is_err(),
            "went off twice"
        );
    }

    #[test]
    fn a_disarmed_or_replaced_alarm_does_not_go_off() {
        let (watchdog, alarms) = start();
        watchdog.arm("req-1", Instant::now() + Duration::from_millis(60));
        watchdog.disarm();
        watchdog.arm("req-2", Instant::now() + Duration::from_secs(30));
        watchdog.arm("req-3", Instant::now() + Duration::from_millis(60));
        let (id, _) = alarms.recv_timeout(Duration::from_secs(2)).unwrap();
        assert_eq!(id, "req-3");
        assert!(alarms.recv_timeout(Duration::from_millis(200)).is_err());
    }
}
