//! Runtime API calls survive signals. A test binary of its own: it installs a process-wide
//! signal handler without `SA_RESTART`, as PHP's `pcntl_signal` (through Zend's signal
//! handling) may, so that every blocking socket call it interrupts fails with `EINTR`.
//! Another thread then sends that signal to the calling thread, every millisecond, for
//! the whole of a connect, a `/next`, a slow response post and a second `/next`.

mod support;

use std::io::{BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::thread;
use std::time::{Duration, Instant};

use hover_core::runtime_api::{Delivery, RuntimeApiClient};
use support::{invocation_head, read_head, read_request};

static HANDLED: AtomicUsize = AtomicUsize::new(0);

extern "C" fn count_signal(_: libc::c_int) {
    HANDLED.fetch_add(1, Ordering::Relaxed);
}

fn install_handler_without_sa_restart(signal: libc::c_int) {
    // SAFETY: a zeroed `sigaction` is a valid value; the handler only touches an atomic,
    // which is async-signal-safe.
    unsafe {
        let mut action: libc::sigaction = std::mem::zeroed();
        action.sa_sigaction = count_signal as *const () as libc::sighandler_t;
        // No SA_RESTART: an interrupted blocking call returns EINTR instead of resuming.
        action.sa_flags = 0;
        libc::sigemptyset(&mut action.sa_mask);
        assert_eq!(
            libc::sigaction(signal, &action, std::ptr::null_mut()),
            0,
            "sigaction"
        );
    }
}

const PAUSE: Duration = Duration::from_millis(300);
const RESPONSE_BYTES: usize = 6 * 1024 * 1024;

/// Serves one connection, slowly at every step, and reports when it accepted the client.
fn serve_slowly(listener: TcpListener, event: &'static [u8]) -> Instant {
    // The accept queue holds a filler connection: the client's SYN is dropped until this
    // accepts it, so the client's connect blocks until its SYN is sent again (~1 s).
    thread::sleep(PAUSE);
    drop(listener.accept().unwrap());
    let (stream, _) = listener.accept().unwrap();
    let accepted = Instant::now();
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);

    // `/next`: the head after a pause, the body in pieces after another.
    let next = read_request(&mut reader).unwrap();
    assert_eq!(
        next.request_line,
        "GET /2018-06-01/runtime/invocation/next HTTP/1.1"
    );
    thread::sleep(PAUSE);
    writer
        .write_all(invocation_head("slow-1", event.len()).as_bytes())
        .unwrap();
    for piece in event.chunks(event.len().div_ceil(3)) {
        thread::sleep(PAUSE);
        writer.write_all(piece).unwrap();
    }

    // The response post: its body is read only after a pause, then slowly, so the client's
    // writes block on a full socket; the answer comes late, in two pieces.
    let post = read_head(&mut reader).unwrap();
    assert_eq!(
        post.request_line,
        "POST /2018-06-01/runtime/invocation/slow-1/response HTTP/1.1"
    );
    assert_eq!(post.body_length(), RESPONSE_BYTES);
    thread::sleep(PAUSE);
    let mut left = post.body_length();
    let mut piece = vec![0; 256 * 1024];
    while left > 0 {
        let amount = left.min(piece.len());
        reader.read_exact(&mut piece[..amount]).unwrap();
        assert!(piece[..amount].iter().all(|byte| *byte == b'r'));
        left -= amount;
        thread::sleep(Duration::from_millis(20));
    }
    thread::sleep(PAUSE);
    let answer = r#"{"status":"OK"}"#;
    writer
        .write_all(
            format!(
                "HTTP/1.1 202 Accepted\r\nContent-Length: {}\r\n\r\n",
                answer.len()
            )
            .as_bytes(),
        )
        .unwrap();
    thread::sleep(PAUSE);
    writer.write_all(answer.as_bytes()).unwrap();

    // A second `/next`, on the same connection.
    read_request(&mut reader).unwrap();
    thread::sleep(PAUSE);
    writer
        .write_all(invocation_head("slow-2", 2).as_bytes())
        .unwrap();
    writer.write_all(b"{}").unwrap();
    // Hold the connection until the client is done with it.
    let _ = reader.read(&mut [0; 1]);
    accepted
}

#[test]
fn runtime_api_calls_survive_signals_without_sa_restart() {
    install_handler_without_sa_restart(libc::SIGALRM);

    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let address = listener.local_addr().unwrap().to_string();
    // SAFETY: plain socket calls on a socket this test owns. A backlog of 0 leaves room for
    // one queued connection; a small receive buffer (inherited by accepted sockets) makes
    // the client's 6 MB post block on a full socket.
    unsafe {
        let small: libc::c_int = 64 * 1024;
        assert_eq!(
            libc::setsockopt(
                listener.as_raw_fd(),
                libc::SOL_SOCKET,
                libc::SO_RCVBUF,
                (&raw const small).cast(),
                size_of::<libc::c_int>() as libc::socklen_t,
            ),
            0
        );
        assert_eq!(libc::listen(listener.as_raw_fd(), 0), 0);
    }
    let filler = TcpStream::connect(&address).unwrap();
    thread::sleep(Duration::from_millis(50));

    let event: &'static [u8] =
        br#"{"command":"list","padding":"0123456789abcdef0123456789abcdef"}"#;
    let server = thread::spawn(move || serve_slowly(listener, event));
    let client = RuntimeApiClient::new(&address);
    let response = vec![b'r'; RESPONSE_BYTES];

    // SAFETY: `pthread_self` has no preconditions.
    let target = unsafe { libc::pthread_self() };
    let stop = AtomicBool::new(false);
    let started = Instant::now();
    let (first, delivery, second) = thread::scope(|scope| {
        scope.spawn(|| {
            while !stop.load(Ordering::Relaxed) {
                // SAFETY: `target` is this scope's caller, alive until the scope joins this
                // thread, which happens only after `stop` is set.
                unsafe { libc::pthread_kill(target, libc::SIGALRM) };
                thread::sleep(Duration::from_millis(1));
            }
        });
        let first = client.next_invocation();
        let delivery = first
            .as_ref()
            .ok()
            .map(|_| client.send_response("slow-1", &response));
        let second = delivery
            .as_ref()
            .filter(|delivery| delivery.is_ok())
            .map(|_| client.next_invocation());
        stop.store(true, Ordering::Relaxed);
        (first, delivery, second)
    });

    let first = first.expect("the first /next survives the signals");
    assert_eq!(first.context.request_id, "slow-1");
    assert_eq!(first.payload, event);
    assert_eq!(
        delivery.unwrap().expect("the post survives the signals"),
        Delivery::Accepted
    );
    let second = second
        .unwrap()
        .expect("the second /next survives the signals");
    assert_eq!(second.context.request_id, "slow-2");
    drop(client);
    drop(filler);
    let accepted = server.join().unwrap();

    let connecting = accepted.duration_since(started);
    assert!(
        connecting >= Duration::from_millis(800),
        "the client's connect was expected to block on the full accept queue, but it was accepted after {connecting:?}"
    );
    let handled = HANDLED.load(Ordering::Relaxed);
    assert!(handled > 1_000, "only {handled} signals reached the client");
}
