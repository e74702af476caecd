//! A released job's visibility set against moto's SQS, reached as production reaches SQS:
//! through the SDK's own configuration from the environment (`AWS_ENDPOINT_URL_SQS`, by host
//! name, so that names are looked up), with the queue URL in the form a Lambda event gives it
//! (`https://sqs.us-east-1.amazonaws.com/123456789012/<name>`), which moto resolves by account
//! and name to the queue created in it. Setting the environment is only sound while no other
//! thread runs, and the threads left behind are counted, so this binary holds a single test,
//! which sets it first and then goes through the cases one after the other.

use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_sdk_sqs::Client;
use aws_sdk_sqs::types::QueueAttributeName;
use hover_core::process::{thread_count, thread_names};
use hover_core::queue::visibility::{
    SURE_VISIBILITY_SECONDS, Visibility, VisibilityError, VisibilityErrorKind,
};

const MOTO_SERVER: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/moto_server");
const QUEUE_NAME: &str = "hover-visibility";
/// The queue's URL as a Lambda event gives it: moto's default account, real AWS host.
const EVENT_QUEUE_URL: &str = "https://sqs.us-east-1.amazonaws.com/123456789012/hover-visibility";
const A_MINUTE: Duration = Duration::from_secs(60);

/// moto's server, stopped when dropped.
struct Moto {
    server: Child,
    port: u16,
}

impl Moto {
    fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let server = Command::new(MOTO_SERVER)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(30),
                "moto did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        Self { server, port }
    }
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.server.kill();
        let _ = self.server.wait();
    }
}

/// The test's own view of the queue, through an SQS client on moto's address (an IP address:
/// no name lookup, no thread).
struct Queue {
    runtime: tokio::runtime::Runtime,
    client: Client,
    moto_url: String,
}

impl Queue {
    fn create(port: u16) -> Self {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let config = runtime.block_on(
            aws_config::defaults(aws_config::BehaviorVersion::latest())
                .endpoint_url(format!("http://127.0.0.1:{port}"))
                .load(),
        );
        let client = Client::new(&config);
        let moto_url = runtime
            .block_on(client.create_queue().queue_name(QUEUE_NAME).send())
            .unwrap()
            .queue_url
            .unwrap();
        Self {
            runtime,
            client,
            moto_url,
        }
    }

    fn send(&self, body: &str) {
        let sending = self
            .client
            .send_message()
            .queue_url(&self.moto_url)
            .message_body(body);
        self.runtime.block_on(sending.send()).unwrap();
    }

    /// Receives a message (invisible for 30 s), if one is visible: its body and receipt handle.
    fn receive(&self) -> Option<(String, String)> {
        let receiving = self
            .client
            .receive_message()
            .queue_url(&self.moto_url)
            .visibility_timeout(30)
            .wait_time_seconds(0);
        let mut messages = self.runtime.block_on(receiving.send()).unwrap().messages?;
        assert!(messages.len() <= 1, "{messages:?}");
        let message = messages.pop()?;
        Some((message.body.unwrap(), message.receipt_handle.unwrap()))
    }

    fn not_visible_count(&self) -> String {
        let asking = self
            .client
            .get_queue_attributes()
            .queue_url(&self.moto_url)
            .attribute_names(QueueAttributeName::ApproximateNumberOfMessagesNotVisible);
        let attributes = self.runtime.block_on(asking.send()).unwrap().attributes;
        attributes.unwrap()[&QueueAttributeName::ApproximateNumberOfMessagesNotVisible].clone()
    }

    /// What SQS (moto) says to a visibility of `seconds` set directly, without clamping.
    fn set_unclamped(&self, receipt_handle: &str, seconds: i32) -> Option<String> {
        let changing = self
            .client
            .change_message_visibility()
            .queue_url(&self.moto_url)
            .receipt_handle(receipt_handle)
            .visibility_timeout(seconds);
        let result = self.runtime.block_on(changing.send());
        result.err().map(|error| {
            aws_sdk_sqs::error::DisplayErrorContext(error.into_service_error()).to_string()
        })
    }
}

/// Sets the visibility with a deadline a minute away, and checks no thread was left behind.
fn set(
    visibility: &mut Visibility,
    queue_url: &str,
    receipt_handle: &str,
    delay_seconds: u64,
    threads_before: usize,
) -> Result<u32, VisibilityError> {
    let result = visibility.set(
        queue_url,
        receipt_handle,
        delay_seconds,
        Instant::now() + A_MINUTE,
    );
    assert_eq!(
        thread_count().unwrap(),
        threads_before,
        "a thread was left behind: {:?}",
        thread_names()
    );
    result
}

#[test]
fn released_messages_come_back_when_their_visibility_says() {
    if !Path::new(MOTO_SERVER).exists() {
        println!("skipped: no moto server at {MOTO_SERVER}");
        return;
    }
    let moto = Moto::start();
    // SAFETY: this is the only test of the binary, and it has started no thread yet (moto is
    // a process); the test harness's main thread only waits for it.
    unsafe {
        std::env::set_var(
            "AWS_ENDPOINT_URL_SQS",
            format!("http://localhost:{}", moto.port),
        );
        std::env::set_var("AWS_REGION", "us-east-1");
        std::env::set_var("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE");
        std::env::set_var("AWS_SECRET_ACCESS_KEY", "secret");
        std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
    }
    let queue = Queue::create(moto.port);
    assert!(
        queue.moto_url.ends_with("/123456789012/hover-visibility"),
        "moto's URL for the queue: {}",
        queue.moto_url
    );
    let threads = thread_count().unwrap();
    let mut visibility = Visibility::new();

    // 0 s: the message can be received again at once, through the event's form of the URL.
    queue.send("job");
    let (body, handle) = queue.receive().expect("the message sent");
    assert_eq!(body, "job");
    assert!(queue.receive().is_none(), "received: invisible for 30 s");
    assert_eq!(
        set(&mut visibility, EVENT_QUEUE_URL, &handle, 0, threads),
        Ok(0)
    );
    let (_, handle) = queue.receive().expect("visible again at once");

    // A release after the first, on the client kept: a round trip.
    let started = Instant::now();
    let releases = 20;
    for _ in 0..releases {
        assert_eq!(
            set(&mut visibility, EVENT_QUEUE_URL, &handle, 0, threads),
            Ok(0)
        );
    }
    let per_release = started.elapsed() / releases;
    println!("a release costs {per_release:?} against moto");
    assert!(
        per_release < Duration::from_millis(50),
        "a release costs {per_release:?}"
    );

    // 120 s: not receivable.
    let (_, handle) = queue.receive().expect("visible after the releases of 0 s");
    assert_eq!(
        set(&mut visibility, EVENT_QUEUE_URL, &handle, 120, threads),
        Ok(120)
    );
    assert!(queue.receive().is_none(), "invisible for 120 s");
    assert_eq!(queue.not_visible_count(), "1");

    // 12 hours counts from the message's receipt (moto: from its sending), so SQS refuses
    // 43,200 s for a message already received; a release of 50,000 s is cut to 43,200 s, then
    // set as the most SQS surely takes.
    let refusal = queue.set_unclamped(&handle, 43_200).expect("refused");
    assert!(
        refusal.contains("InvalidParameterValue") && refusal.contains("43200 seconds"),
        "{refusal}"
    );
    assert_eq!(
        set(&mut visibility, EVENT_QUEUE_URL, &handle, 50_000, threads),
        Ok(SURE_VISIBILITY_SECONDS)
    );
    assert!(queue.receive().is_none(), "invisible for 11 h 40 min");
    // A delay below 12 hours that SQS takes is set as it is.
    assert_eq!(
        set(&mut visibility, EVENT_QUEUE_URL, &handle, 42_500, threads),
        Ok(42_500)
    );

    // A receipt handle SQS never gave.
    let error = set(
        &mut visibility,
        EVENT_QUEUE_URL,
        "not-a-receipt-handle",
        10,
        threads,
    )
    .unwrap_err();
    assert_eq!(
        error.kind,
        VisibilityErrorKind::InvalidReceiptHandle,
        "{error}"
    );
    assert!(
        error.to_string().contains("comes back when it expires"),
        "{error}"
    );

    // A queue that does not exist.
    let missing = EVENT_QUEUE_URL.replace(QUEUE_NAME, "no-such-queue");
    let error = set(&mut visibility, &missing, &handle, 10, threads).unwrap_err();
    assert_eq!(error.kind, VisibilityErrorKind::NoSuchQueue, "{error}");

    // A deadline already past: SQS is not called.
    let started = Instant::now();
    let error = visibility
        .set(EVENT_QUEUE_URL, &handle, 10, Instant::now())
        .unwrap_err();
    assert_eq!(error.kind, VisibilityErrorKind::DeadlinePassed, "{error}");
    assert!(started.elapsed() < Duration::from_millis(10));

    // SQS gone: the call and its retries end by the deadline.
    drop(moto);
    let budget = Duration::from_millis(500);
    let started = Instant::now();
    let error = visibility
        .set(EVENT_QUEUE_URL, &handle, 10, started + budget)
        .unwrap_err();
    let elapsed = started.elapsed();
    assert_eq!(error.kind, VisibilityErrorKind::Unreachable, "{error}");
    assert!(elapsed < budget + Duration::from_millis(200), "{elapsed:?}");
    assert_eq!(thread_count().unwrap(), threads, "{:?}", thread_names());
}
