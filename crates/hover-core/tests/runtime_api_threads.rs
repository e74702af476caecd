//! Runtime API calls start no thread and resolve no name. A test binary of its own, with one
//! test: it counts, process-wide, every thread created and every name lookup.
//!
//! The counting: this binary defines `pthread_create` and `getaddrinfo` itself. Rust's std,
//! linked statically into it, binds its calls to these definitions at link time; they count,
//! then call glibc's own (found with `dlsym(RTLD_NEXT)`). Counting `/proc/self/task` alone
//! would miss a helper thread that has already ended (ureq's resolver thread ends as soon as
//! its lookup is done), so the test also shows the counting catches ureq's own resolver at
//! work before it looks at the client's calls.

mod support;

use std::ffi::{c_char, c_int, c_void};
use std::io::{BufReader, Write};
use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use hover_core::error_response::ErrorResponse;
use hover_core::runtime_api::{Delivery, RuntimeApiClient};
use support::{invocation_head, read_request};

static THREADS_CREATED: AtomicUsize = AtomicUsize::new(0);
static LOOKUPS: AtomicUsize = AtomicUsize::new(0);

type PthreadCreate = unsafe extern "C" fn(
    *mut libc::pthread_t,
    *const libc::pthread_attr_t,
    extern "C" fn(*mut c_void) -> *mut c_void,
    *mut c_void,
) -> c_int;

type GetAddrInfo = unsafe extern "C" fn(
    *const c_char,
    *const c_char,
    *const libc::addrinfo,
    *mut *mut libc::addrinfo,
) -> c_int;

/// glibc's own definition of `name`.
fn next_definition(name: &std::ffi::CStr) -> *mut c_void {
    // SAFETY: `name` is NUL-terminated; RTLD_NEXT finds the definition after this binary's.
    let found = unsafe { libc::dlsym(libc::RTLD_NEXT, name.as_ptr()) };
    assert!(!found.is_null(), "no next definition of {name:?}");
    found
}

/// Counts, then creates the thread as glibc would.
///
/// # Safety
///
/// As glibc's `pthread_create`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pthread_create(
    thread: *mut libc::pthread_t,
    attributes: *const libc::pthread_attr_t,
    start: extern "C" fn(*mut c_void) -> *mut c_void,
    argument: *mut c_void,
) -> c_int {
    THREADS_CREATED.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the next definition is glibc's `pthread_create`, of this very signature.
    unsafe {
        let create: PthreadCreate = std::mem::transmute(next_definition(c"pthread_create"));
        create(thread, attributes, start, argument)
    }
}

/// Counts, then looks the name up as glibc would.
///
/// # Safety
///
/// As glibc's `getaddrinfo`.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn getaddrinfo(
    node: *const c_char,
    service: *const c_char,
    hints: *const libc::addrinfo,
    result: *mut *mut libc::addrinfo,
) -> c_int {
    LOOKUPS.fetch_add(1, Ordering::SeqCst);
    // SAFETY: the next definition is glibc's `getaddrinfo`, of this very signature.
    unsafe {
        let lookup: GetAddrInfo = std::mem::transmute(next_definition(c"getaddrinfo"));
        lookup(node, service, hints, result)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Counts {
    threads_created: usize,
    lookups: usize,
    tasks: usize,
}

fn counts() -> Counts {
    Counts {
        threads_created: THREADS_CREATED.load(Ordering::SeqCst),
        lookups: LOOKUPS.load(Ordering::SeqCst),
        tasks: std::fs::read_dir("/proc/self/task").unwrap().count(),
    }
}

/// Answers every request on 127.0.0.1, one connection at a time: `/next` with an
/// invocation, posts with 202, anything else with 200 and `Connection: close`.
fn serve() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    thread::spawn(move || {
        let mut invocations = 0;
        for stream in listener.incoming() {
            let stream = stream.unwrap();
            let mut writer = stream.try_clone().unwrap();
            let mut reader = BufReader::new(stream);
            while let Some(request) = read_request(&mut reader) {
                if request.request_line.contains("/invocation/next ") {
                    invocations += 1;
                    let id = format!("req-{invocations}");
                    writer
                        .write_all(invocation_head(&id, 2).as_bytes())
                        .unwrap();
                    writer.write_all(b"{}").unwrap();
                } else if request.request_line.starts_with("POST ") {
                    writer
                        .write_all(b"HTTP/1.1 202 Accepted\r\nContent-Length: 0\r\n\r\n")
                        .unwrap();
                } else {
                    writer
                        .write_all(
                            b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n",
                        )
                        .unwrap();
                    break;
                }
            }
        }
    });
    port
}

#[test]
fn runtime_api_calls_start_no_thread_and_resolve_no_name() {
    let port = serve();

    // The counting works: a stock ureq agent with a timeout looks `localhost` up in a
    // thread of its own, for every new connection.
    let stock = ureq::Agent::new_with_config(
        ureq::Agent::config_builder()
            .timeout_global(Some(Duration::from_secs(5)))
            .proxy(None)
            .build(),
    );
    let before = counts();
    stock
        .get(format!("http://localhost:{port}/control"))
        .call()
        .unwrap();
    let after_stock = counts();
    assert!(
        after_stock.threads_created > before.threads_created,
        "ureq's resolver thread went uncounted: {before:?} then {after_stock:?}"
    );
    assert!(after_stock.lookups > before.lookups, "{after_stock:?}");

    // The client looks a name up once, when it is made, on the calling thread.
    let client = RuntimeApiClient::new(&format!("localhost:{port}"));
    let made = counts();
    assert_eq!(made.lookups, after_stock.lookups + 1, "one lookup at new()");
    assert_eq!(made.threads_created, after_stock.threads_created);

    // Then every call, with the timeouts the client sets, goes to that address: no
    // lookup, no thread.
    assert_eq!(
        client.next_invocation().unwrap().context.request_id,
        "req-1"
    );
    assert_eq!(
        client.send_response("req-1", b"{}").unwrap(),
        Delivery::Accepted
    );
    client
        .send_error("req-1", &ErrorResponse::named("Hover.Test", "x"))
        .unwrap();
    client
        .send_init_error(&ErrorResponse::named("Hover.Test", "x"))
        .unwrap();
    assert_eq!(
        client.next_invocation().unwrap().context.request_id,
        "req-2"
    );
    let called = counts();
    assert_eq!(called, made, "the calls created threads or looked names up");

    // An IP literal, as Lambda sets it, is not even looked up at new(). (The server serves
    // one connection at a time: the first client's must close first.)
    drop(client);
    let literal = RuntimeApiClient::new(&format!("127.0.0.1:{port}"));
    assert_eq!(counts(), called);
    assert_eq!(
        literal.next_invocation().unwrap().context.request_id,
        "req-3"
    );
    assert_eq!(counts(), called);
}
