//! The warmer against a fake Lambda Invoke API on localhost, reached as production reaches
//! Lambda: through the SDK's own configuration from the environment
//! (`AWS_ENDPOINT_URL_LAMBDA`). Setting the environment is only sound while no other thread
//! runs, so this binary holds a single test, which sets it first and then goes through the
//! cases one after the other.

mod support;

use std::io::{BufReader, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use hover_core::log::LogFormat;
use hover_core::warmer::{WarmReport, warm};

/// An invoked function ARN, with an alias: the pings must keep it.
const FUNCTION: &str = "arn:aws:lambda:us-east-1:123456789012:function:hover-http:live";
const INVOKE_LINE: &str = "POST /2015-03-31/functions/\
    arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Ahover-http%3Alive/invocations \
    HTTP/1.1";
/// How long the fake function takes to answer a ping.
const ANSWER_DELAY: Duration = Duration::from_millis(300);
/// How long it takes when it hangs: longer than any stop point here.
const HANG: Duration = Duration::from_secs(10);

/// How the fake Lambda answers the pings of a case, by order of arrival.
#[derive(Clone, Copy)]
enum Script {
    AllSucceed,
    /// The first ping fails in the function, the second in the Lambda service.
    FirstTwoFail,
    Hang,
}

/// A ping as the fake Lambda saw it.
struct Ping {
    request_line: String,
    invocation_type: Option<String>,
    body: Vec<u8>,
}

#[derive(Default)]
struct Seen {
    pings: Vec<Ping>,
    in_flight: usize,
    most_in_flight: usize,
}

struct FakeLambda {
    script: Arc<Mutex<Script>>,
    seen: Arc<Mutex<Seen>>,
}

impl FakeLambda {
    fn serve(listener: TcpListener) -> Self {
        let fake = Self {
            script: Arc::new(Mutex::new(Script::AllSucceed)),
            seen: Arc::default(),
        };
        let (script, seen) = (fake.script.clone(), fake.seen.clone());
        thread::spawn(move || {
            for connection in listener.incoming() {
                let (script, seen) = (script.clone(), seen.clone());
                thread::spawn(move || answer_pings(connection.unwrap(), &script, &seen));
            }
        });
        fake
    }

    /// Starts a case: forgets the pings seen so far.
    fn begin(&self, script: Script) {
        *self.script.lock().unwrap() = script;
        *self.seen.lock().unwrap() = Seen::default();
    }

    /// The pings seen since `begin`, and the most that were in flight together.
    fn seen(&self) -> (Vec<Ping>, usize) {
        let mut seen = self.seen.lock().unwrap();
        (std::mem::take(&mut seen.pings), seen.most_in_flight)
    }
}

/// Answers the requests of one connection, each after `ANSWER_DELAY`, as the script says.
fn answer_pings(connection: TcpStream, script: &Mutex<Script>, seen: &Mutex<Seen>) {
    let mut reader = BufReader::new(connection.try_clone().unwrap());
    let mut writer = connection;
    while let Some(request) = support::read_request(&mut reader) {
        let arrival = {
            let mut seen = seen.lock().unwrap();
            seen.pings.push(Ping {
                request_line: request.request_line.clone(),
                invocation_type: request
                    .headers
                    .iter()
                    .find(|(name, _)| name.eq_ignore_ascii_case("x-amz-invocation-type"))
                    .map(|(_, value)| value.clone()),
                body: request.body,
            });
            seen.in_flight += 1;
            seen.most_in_flight = seen.most_in_flight.max(seen.in_flight);
            seen.pings.len() - 1
        };
        let script = *script.lock().unwrap();
        let (status, headers, body) = match (script, arrival) {
            (Script::FirstTwoFail, 0) => (
                "200 OK",
                "X-Amz-Function-Error: Unhandled\r\n",
                r#"{"errorMessage":"boom","errorType":"Error"}"#,
            ),
            (Script::FirstTwoFail, 1) => (
                "500 Internal Server Error",
                "X-Amzn-ErrorType: ServiceException\r\n",
                r#"{"Type":"Service","message":"the service broke"}"#,
            ),
            _ => ("200 OK", "", r#"{"pong":true}"#),
        };
        thread::sleep(match script {
            Script::Hang => HANG,
            _ => ANSWER_DELAY,
        });
        seen.lock().unwrap().in_flight -= 1;
        let response = format!(
            "HTTP/1.1 {status}\r\nContent-Type: application/json\r\n{headers}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

/// Warms `containers` containers with a stop point `budget` from now; how long it took.
fn warm_within(containers: u64, budget: Duration) -> (WarmReport, Duration) {
    let started = Instant::now();
    let report = warm(
        FUNCTION,
        containers,
        started + budget,
        LogFormat::Text,
        "warmer-request",
    );
    (report, started.elapsed())
}

const A_MINUTE: Duration = Duration::from_secs(60);

#[test]
fn the_warmer_pings_its_own_function_at_once_and_counts_the_answers() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let endpoint = format!("http://{}", listener.local_addr().unwrap());
    // SAFETY: this is the only test of the binary, and it has started no thread yet; the test
    // harness's main thread only waits for it.
    unsafe {
        std::env::set_var("AWS_ENDPOINT_URL_LAMBDA", &endpoint);
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "secret");
    }
    let lambda = FakeLambda::serve(listener);

    // Five containers: four pings, all in flight together.
    lambda.begin(Script::AllSucceed);
    let (report, elapsed) = warm_within(5, A_MINUTE);
    assert_eq!(
        report,
        WarmReport {
            requested: 4,
            succeeded: 4,
            failures: Vec::new()
        }
    );
    let (pings, most_in_flight) = lambda.seen();
    assert_eq!(pings.len(), 4);
    for ping in &pings {
        assert_eq!(ping.request_line, INVOKE_LINE);
        assert_eq!(ping.invocation_type.as_deref(), Some("RequestResponse"));
        assert_eq!(ping.body, br#"{"warmer_ping":true}"#);
    }
    assert_eq!(most_in_flight, 4, "the pings overlapped");
    assert!(
        elapsed < 4 * ANSWER_DELAY,
        "took {elapsed:?}: the pings were not sent at once"
    );

    // One container, or none: no pings.
    for containers in [1, 0] {
        lambda.begin(Script::AllSucceed);
        let (report, _) = warm_within(containers, A_MINUTE);
        assert_eq!((report.requested, report.succeeded), (0, 0));
        assert_eq!(lambda.seen().0.len(), 0, "{containers} containers");
    }

    // Failures, in the function and in Lambda, are counted; the other ping still is, and
    // nothing is retried.
    lambda.begin(Script::FirstTwoFail);
    let (report, _) = warm_within(4, A_MINUTE);
    assert_eq!((report.requested, report.succeeded), (3, 1));
    assert_eq!(report.failures.len(), 2, "{:?}", report.failures);
    assert!(
        report
            .failures
            .iter()
            .any(|failure| failure.contains("Unhandled") && failure.contains("boom")),
        "{:?}",
        report.failures
    );
    assert!(
        report
            .failures
            .iter()
            .any(|failure| failure.contains("ServiceException: the service broke")),
        "{:?}",
        report.failures
    );
    assert_eq!(lambda.seen().0.len(), 3);

    // A hung Lambda: the pings are abandoned at the stop point.
    lambda.begin(Script::Hang);
    let stop_after = Duration::from_millis(500);
    let (report, elapsed) = warm_within(3, stop_after);
    assert!(
        elapsed >= stop_after && elapsed < stop_after + Duration::from_millis(500),
        "took {elapsed:?}"
    );
    assert_eq!((report.requested, report.succeeded), (2, 0));
    assert_eq!(report.failures.len(), 2);
    assert!(
        report
            .failures
            .iter()
            .all(|failure| failure.contains("timeout")),
        "{:?}",
        report.failures
    );
    assert_eq!(
        lambda.seen().0.len(),
        2,
        "the pings were sent, then abandoned"
    );
}
