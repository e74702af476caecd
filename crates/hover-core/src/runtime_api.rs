//! Client for the Lambda Runtime API: `/next`, the response and error posts, `/init/error`.
//!
//! Blocking and small on purpose: the runtime handles one invocation at a time, so a ureq
//! agent with one pooled keep-alive connection is all it needs, with no async runtime to
//! carry (and none to break when php-fpm forks). Only connection failures on `/next` are
//! retried (for about 1.5 s); any other answer is final. It runs on PHP's main thread,
//! and may run on a thread that watches a deadline.
//!
//! What it guarantees, each tested:
//!
//! - **Signals never fail a call.** A handler installed without `SA_RESTART` (PHP's
//!   `pcntl_signal` may install one), or any handler while a socket has a timeout, makes a
//!   blocked socket call return `EINTR`. `connect` is retried by std, writes by
//!   `write_all`, reads by ureq when they have a time limit and by `InterruptSafe` when
//!   they have none (the wait for `/next`). A signal never makes a request be sent
//!   again: Lambda counts an invocation as handed over once it has written it to the
//!   first `/next`, so a second one could lose it.
//!   (`tests/runtime_api_signals.rs`)
//! - **Nothing hangs but the wait for `/next`,** which Lambda holds for as long as the
//!   function is idle. Every other step has a limit (`Limits`): 10 s for a body once
//!   its head has arrived, 30 s for a whole post.
//! - **No name lookup and no thread after [`RuntimeApiClient::new`]:** the address is
//!   resolved there, once (not at all for an IP literal), and every request goes to it.
//!   (`tests/runtime_api_threads.rs`)
//! - **Any request id can be answered:** it is percent-escaped into its URL segment.

use std::fmt;
use std::io;
use std::net::{SocketAddr, ToSocketAddrs};
use std::thread;
use std::time::Duration;

use ureq::Agent;
use ureq::config::Config;
use ureq::http::{Response, Uri};
use ureq::unversioned::resolver::{ResolvedSocketAddrs, Resolver};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, NextTimeout, TcpConnector, Transport,
};

use crate::context::{Context, ContextError};
use crate::error_response::{ErrorResponse, ErrorType};

const API_VERSION: &str = "2018-06-01";
/// Waits between attempts to reach `/next`: about 1.5 s in all, then the process gives up.
const NEXT_RETRY_DELAYS_MS: [u64; 5] = [50, 100, 200, 400, 800];
/// Lambda's payloads stop at 6 MB; this leaves room and still bounds memory.
const MAX_PAYLOAD_BYTES: u64 = 16 * 1024 * 1024;

/// How long each step of a call may take. The wait for the head of `/next` is not among
/// them: Lambda holds `/next` for as long as nobody invokes the function.
#[derive(Debug, Clone, Copy)]
struct Limits {
    /// Connecting to the Runtime API. On loopback a connection is made or refused at
    /// once; 5 s leaves room for a SYN sent again (after 1 s, then 3 s) should the API's
    /// accept queue be full for a moment.
    connect: Duration,
    /// Sending a request's line and headers: a few hundred bytes.
    send_request: Duration,
    /// Receiving a body once its head has arrived: the event of `/next` (up to 6 MB),
    /// the Runtime API's short answer to a post. Lambda has the whole event in memory
    /// before it sends the head, and loopback moves 6 MB in milliseconds even on the
    /// smallest, CPU-starved function; 10 s is far above that, and still ends a body
    /// that stalls long before most invocation deadlines would (up to 15 min).
    body: Duration,
    /// A whole post (response or error): connect, head, body (up to 6 MB) and Lambda's
    /// answer, which it gives once it has read the body.
    post: Duration,
}

const LIMITS: Limits = Limits {
    connect: Duration::from_secs(5),
    send_request: Duration::from_secs(10),
    body: Duration::from_secs(10),
    post: Duration::from_secs(30),
};

/// One invocation: its context and the event, as raw bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub context: Context,
    pub payload: Vec<u8>,
}

/// What became of a response posted for an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Delivery {
    Accepted,
    /// 413: the response is over Lambda's limit; the body says by how much.
    TooLarge(String),
}

#[derive(Debug)]
pub enum RuntimeApiError {
    /// `/next` could not be reached, even after retrying.
    Unreachable {
        url: String,
        attempts: usize,
        error: String,
    },
    /// The Runtime API answered with a status the runtime cannot go on from.
    Rejected {
        url: String,
        status: u16,
        body: String,
    },
    /// The connection failed while posting an answer.
    Transport { url: String, error: String },
    /// `/next` answered without a request id.
    Protocol(String),
    /// The Runtime API's address (`AWS_LAMBDA_RUNTIME_API`) did not resolve when the client
    /// was made; no call is attempted.
    Unresolvable { address: String, error: String },
}

impl fmt::Display for RuntimeApiError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unreachable {
                url,
                attempts,
                error,
            } => {
                write!(
                    formatter,
                    "the Lambda Runtime API at {url} is unreachable after {attempts} attempts: {error}"
                )
            }
            Self::Rejected { url, status, body } => write!(
                formatter,
                "the Lambda Runtime API answered {status} to {url}: {body}"
            ),
            Self::Transport { url, error } => write!(
                formatter,
                "could not reach the Lambda Runtime API at {url}: {error}"
            ),
            Self::Protocol(problem) => write!(
                formatter,
                "the Lambda Runtime API sent an invocation without {problem}"
            ),
            Self::Unresolvable { address, error } => write!(
                formatter,
                "the Lambda Runtime API address {address} does not resolve: {error}"
            ),
        }
    }
}

impl std::error::Error for RuntimeApiError {}

pub struct RuntimeApiClient {
    agent: Agent,
    limits: Limits,
    base_url: String,
    address: String,
    /// Why `address` did not resolve, if it did not.
    unresolvable: Option<String>,
}

impl RuntimeApiClient {
    /// A client for the Runtime API at `address` (`host:port`, as in `AWS_LAMBDA_RUNTIME_API`).
    ///
    /// `address` is resolved here, on the calling thread, and never again: an IP literal
    /// (Lambda's `127.0.0.1:9001`) needs no lookup; a name is looked up once. A failure is
    /// reported by every call, as [`RuntimeApiError::Unresolvable`].
    pub fn new(address: &str) -> Self {
        Self::with_limits(address, LIMITS)
    }

    fn with_limits(address: &str, limits: Limits) -> Self {
        let (addresses, unresolvable) = match resolve(address) {
            Ok(addresses) => (addresses, None),
            Err(error) => (no_addresses(), Some(error)),
        };
        let config = Agent::config_builder()
            .http_status_as_error(false)
            .max_idle_connections_per_host(2)
            // `/next` idles for as long as no one invokes; keep the connection all the while.
            .max_idle_age(Duration::from_secs(24 * 60 * 60))
            .no_delay(true)
            .user_agent("hover-runtime")
            // No proxy from the environment (`HTTP_PROXY`, `ALL_PROXY`): the Runtime API is
            // local, and a proxy would need its own name resolved.
            .proxy(None)
            // The Runtime API never redirects; a 3xx is an answer like any other.
            .max_redirects(0)
            .timeout_connect(Some(limits.connect))
            .timeout_send_request(Some(limits.send_request))
            // No limit on the wait for the head of a response (`/next` may take hours);
            // posts set theirs in `post`.
            .timeout_recv_response(None)
            .timeout_recv_body(Some(limits.body))
            .build();
        let agent = Agent::with_parts(config, InterruptSafeConnector, ResolvedOnce(addresses));
        Self {
            agent,
            limits,
            base_url: format!("http://{address}/{API_VERSION}/runtime"),
            address: address.to_owned(),
            unresolvable,
        }
    }

    fn ensure_resolved(&self) -> Result<(), RuntimeApiError> {
        match &self.unresolvable {
            None => Ok(()),
            Some(error) => Err(RuntimeApiError::Unresolvable {
                address: self.address.clone(),
                error: error.clone(),
            }),
        }
    }

    /// Waits for the next invocation. An invocation whose deadline header is unusable is
    /// answered with an error here, and the wait goes on.
    pub fn next_invocation(&self) -> Result<Invocation, RuntimeApiError> {
        loop {
            let response = self.get_next()?;
            let status = response.status().as_u16();
            let context = Context::from_headers(response.headers());
            let url = self.url("invocation/next");
            let payload = read_body(response).map_err(|error| RuntimeApiError::Transport {
                url: url.clone(),
                error,
            })?;
            if status != 200 {
                return Err(RuntimeApiError::Rejected {
                    url,
                    status,
                    body: String::from_utf8_lossy(&payload).into_owned(),
                });
            }
            match context {
                Ok(context) => return Ok(Invocation { context, payload }),
                Err(ContextError::MissingRequestId) => {
                    return Err(RuntimeApiError::Protocol(
                        "a Lambda-Runtime-Aws-Request-Id header (or with one that is not UTF-8)"
                            .into(),
                    ));
                }
                Err(ContextError::BadDeadline { request_id }) => {
                    let error = ErrorResponse::new(
                        ErrorType::InvalidInvocation,
                        "the invocation has no usable Lambda-Runtime-Deadline-Ms header",
                    );
                    self.send_error(&request_id, &error)?;
                }
            }
        }
    }

    fn get_next(&self) -> Result<Response<ureq::Body>, RuntimeApiError> {
        self.ensure_resolved()?;
        let url = self.url("invocation/next");
        let mut delays = NEXT_RETRY_DELAYS_MS.iter();
        let mut attempts = 0;
        loop {
            attempts += 1;
            match self.agent.get(&url).call() {
                Ok(response) => return Ok(response),
                Err(error) if is_connection_failure(&error) => match delays.next() {
                    Some(delay) => thread::sleep(Duration::from_millis(*delay)),
                    None => {
                        return Err(RuntimeApiError::Unreachable {
                            url,
                            attempts,
                            error: error.to_string(),
                        });
                    }
                },
                Err(error) => {
                    return Err(RuntimeApiError::Transport {
                        url,
                        error: error.to_string(),
                    });
                }
            }
        }
    }

    /// Posts the response for `request_id`.
    pub fn send_response(
        &self,
        request_id: &str,
        body: &[u8],
    ) -> Result<Delivery, RuntimeApiError> {
        let url = self.url(&format!("invocation/{}/response", path_segment(request_id)));
        let (status, answer) = self.post(&url, None, body)?;
        match status {
            200..=299 => Ok(Delivery::Accepted),
            413 => Ok(Delivery::TooLarge(answer)),
            status => Err(RuntimeApiError::Rejected {
                url,
                status,
                body: answer,
            }),
        }
    }

    /// Posts an error for `request_id`.
    pub fn send_error(
        &self,
        request_id: &str,
        error: &ErrorResponse,
    ) -> Result<(), RuntimeApiError> {
        self.post_error(
            &format!("invocation/{}/error", path_segment(request_id)),
            error,
        )
    }

    /// Posts an init error; Lambda then ends the init phase as failed.
    pub fn send_init_error(&self, error: &ErrorResponse) -> Result<(), RuntimeApiError> {
        self.post_error("init/error", error)
    }

    fn post_error(&self, path: &str, error: &ErrorResponse) -> Result<(), RuntimeApiError> {
        let url = self.url(path);
        let (status, answer) = self.post(&url, Some(&error.error_type), &error.to_json())?;
        if (200..=299).contains(&status) {
            Ok(())
        } else {
            Err(RuntimeApiError::Rejected {
                url,
                status,
                body: answer,
            })
        }
    }

    fn post(
        &self,
        url: &str,
        error_type: Option<&str>,
        body: &[u8],
    ) -> Result<(u16, String), RuntimeApiError> {
        self.ensure_resolved()?;
        let transport = |error: String| RuntimeApiError::Transport {
            url: url.to_owned(),
            error,
        };
        let mut request = self
            .agent
            .post(url)
            .config()
            .timeout_per_call(Some(self.limits.post))
            .build()
            .header("Content-Type", "application/json");
        if let Some(error_type) = error_type {
            request = request.header("Lambda-Runtime-Function-Error-Type", error_type);
        }
        let response = request
            .send(body)
            .map_err(|error| transport(error.to_string()))?;
        let status = response.status().as_u16();
        let answer = read_body(response).map_err(transport)?;
        Ok((status, String::from_utf8_lossy(&answer).into_owned()))
    }

    fn url(&self, path: &str) -> String {
        format!("{}/{path}", self.base_url)
    }
}

/// Looks `address` up, once.
fn resolve(address: &str) -> Result<ResolvedSocketAddrs, String> {
    let mut addresses = no_addresses();
    // ureq keeps at most 16 addresses; so does this.
    for resolved in address
        .to_socket_addrs()
        .map_err(|error| error.to_string())?
    {
        if addresses.try_push(resolved).is_err() {
            break;
        }
    }
    if addresses.is_empty() {
        return Err("no address".into());
    }
    Ok(addresses)
}

fn no_addresses() -> ResolvedSocketAddrs {
    ResolvedSocketAddrs::from_fn(|_| SocketAddr::from(([0, 0, 0, 0], 0)))
}

/// The Runtime API's addresses as [`resolve`] found them when the client was made, for
/// every request. ureq's `DefaultResolver` would look the name up again for each new
/// connection, in a thread of its own whenever a timeout is set, and `getaddrinfo` reads
/// the environment, which another thread may be changing (`setenv`).
struct ResolvedOnce(ResolvedSocketAddrs);

impl Resolver for ResolvedOnce {
    fn resolve(
        &self,
        _uri: &Uri,
        _config: &Config,
        _timeout: NextTimeout,
    ) -> Result<ResolvedSocketAddrs, ureq::Error> {
        // Every request goes to the client's own base URL, so to these addresses.
        if self.0.is_empty() {
            return Err(ureq::Error::HostNotFound);
        }
        Ok(self.0.clone())
    }
}

impl fmt::Debug for ResolvedOnce {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter
            .debug_tuple("ResolvedOnce")
            .field(&&self.0[..])
            .finish()
    }
}

/// Opens connections with ureq's `TcpConnector`, and hands them out wrapped in
/// [`InterruptSafe`].
#[derive(Debug)]
struct InterruptSafeConnector;

impl Connector for InterruptSafeConnector {
    type Out = InterruptSafe<<TcpConnector as Connector>::Out>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<()>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        // std's `connect` and `connect_timeout` retry EINTR themselves.
        Ok(TcpConnector::default()
            .connect(details, chained)?
            .map(InterruptSafe))
    }
}

/// A transport whose reads never fail with `EINTR`.
///
/// A signal handler installed without `SA_RESTART` (PHP's `pcntl_signal` may install one)
/// makes a blocked `recv` return `EINTR`. ureq retries that only when the read has a
/// timeout; the wait for the head of `/next` has none, so its `Interrupted` error would end
/// the runtime. A failed `recv` consumed nothing, so reading again is exact. Writes need no
/// help: `TcpTransport` writes with `write_all`, which retries `Interrupted` itself.
#[derive(Debug)]
struct InterruptSafe<T>(T);

impl<T: Transport> Transport for InterruptSafe<T> {
    fn buffers(&mut self) -> &mut dyn Buffers {
        self.0.buffers()
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.0.transmit_output(amount, timeout)
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        let started = std::time::Instant::now();
        loop {
            // A read with a time limit retries EINTR within ureq; should one still surface,
            // only what is left of its limit is given to the next attempt.
            let mut left = timeout;
            if !timeout.after.is_not_happening() {
                let remaining = timeout.after.saturating_sub(started.elapsed());
                if remaining.is_zero() {
                    return Err(ureq::Error::Timeout(timeout.reason));
                }
                left.after = remaining.into();
            }
            match self.0.await_input(left) {
                Err(ureq::Error::Io(error)) if error.kind() == io::ErrorKind::Interrupted => {}
                result => return result,
            }
        }
    }

    fn is_open(&mut self) -> bool {
        self.0.is_open()
    }
}

/// `id` as one URL path segment. Every byte but ASCII letters, digits, `-` and `_` is
/// percent-escaped, so that whatever the id holds (`/`, `?`, `#`, `%`, spaces, dots,
/// non-ASCII) the URL keeps its shape and the Runtime API reads the id back as it sent it.
/// Lambda's ids (UUIDs) come out unchanged.
fn path_segment(id: &str) -> String {
    let mut segment = String::with_capacity(id.len());
    for byte in id.bytes() {
        if byte.is_ascii_alphanumeric() || byte == b'-' || byte == b'_' {
            segment.push(char::from(byte));
        } else {
            segment.push_str(&format!("%{byte:02X}"));
        }
    }
    segment
}

fn read_body(response: Response<ureq::Body>) -> Result<Vec<u8>, String> {
    response
        .into_body()
        .with_config()
        .limit(MAX_PAYLOAD_BYTES)
        .read_to_vec()
        .map_err(|error| error.to_string())
}

fn is_connection_failure(error: &ureq::Error) -> bool {
    match error {
        ureq::Error::ConnectionFailed
        | ureq::Error::HostNotFound
        | ureq::Error::Timeout(ureq::Timeout::Connect) => true,
        ureq::Error::Io(error) => matches!(
            error.kind(),
            io::ErrorKind::ConnectionRefused
                | io::ErrorKind::ConnectionReset
                | io::ErrorKind::ConnectionAborted
                | io::ErrorKind::NotConnected
                | io::ErrorKind::BrokenPipe
                | io::ErrorKind::UnexpectedEof
        ),
        _ => false,
    }
}

/// The scripted Runtime API the test binaries in `tests/` share, for these tests too.
#[cfg(test)]
#[path = "../tests/support/mod.rs"]
mod test_support;

#[cfg(test)]
mod tests {
    //! These tests talk to a scripted HTTP server on loopback: it stands in for the Runtime
    //! API to produce answers the emulator cannot be made to give (a missing request id, a
    //! refused connection at a chosen moment). The real emulator is exercised end to end
    //! in tests/e2e.
    use super::*;
    use std::io::{BufRead, BufReader, Read, Write};
    use std::net::{TcpListener, TcpStream};
    use std::sync::mpsc;

    /// A request as the server saw it.
    #[derive(Debug)]
    struct Seen {
        request_line: String,
        headers: Vec<(String, String)>,
        body: Vec<u8>,
        connection: usize,
    }

    impl Seen {
        fn header(&self, name: &str) -> Option<&str> {
            self.headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case(name))
                .map(|(_, v)| v.as_str())
        }
    }

    /// Serves the scripted raw responses in order, over as many connections as the client
    /// opens, and reports each request it read.
    fn serve(responses: Vec<String>) -> (String, mpsc::Receiver<Seen>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        let (report, seen) = mpsc::channel();
        thread::spawn(move || {
            let mut responses = responses.into_iter();
            let mut connection = 0;
            'connections: for stream in listener.incoming() {
                connection += 1;
                let stream = stream.unwrap();
                let mut reader = BufReader::new(stream.try_clone().unwrap());
                loop {
                    let Some(seen) = read_request(&mut reader, connection) else {
                        continue 'connections;
                    };
                    report.send(seen).unwrap();
                    let Some(response) = responses.next() else {
                        return;
                    };
                    (&stream).write_all(response.as_bytes()).unwrap();
                }
            }
        });
        (address, seen)
    }

    fn read_head_only(reader: &mut BufReader<TcpStream>) {
        let mut line = String::new();
        while reader.read_line(&mut line).unwrap() > 0 && line != "\r\n" {
            line.clear();
        }
    }

    fn read_request(reader: &mut BufReader<TcpStream>, connection: usize) -> Option<Seen> {
        let seen = super::test_support::read_request(reader)?;
        Some(Seen {
            request_line: seen.request_line,
            headers: seen.headers,
            body: seen.body,
            connection,
        })
    }

    fn http(status: &str, headers: &[(&str, &str)], body: &str) -> String {
        let mut response = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
        for (name, value) in headers {
            response.push_str(&format!("{name}: {value}\r\n"));
        }
        response.push_str("\r\n");
        response.push_str(body);
        response
    }

    fn invocation(request_id: &str, body: &str) -> String {
        http(
            "200 OK",
            &[
                ("Lambda-Runtime-Aws-Request-Id", request_id),
                ("Lambda-Runtime-Deadline-Ms", "4102444800000"),
                (
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:eu-west-1:1:function:app-cli",
                ),
            ],
            body,
        )
    }

    #[test]
    fn next_then_response_on_one_kept_alive_connection() {
        let (address, seen) = serve(vec![
            invocation("req-1", r#"{"command":"list"}"#),
            http("202 Accepted", &[], r#"{"status":"OK"}"#),
            invocation("req-2", "{}"),
        ]);
        let client = RuntimeApiClient::new(&address);
        let first = client.next_invocation().unwrap();
        assert_eq!(first.context.request_id, "req-1");
        assert_eq!(first.payload, br#"{"command":"list"}"#);
        assert_eq!(
            client.send_response("req-1", b"{\"ok\":true}").unwrap(),
            Delivery::Accepted
        );
        assert_eq!(
            client.next_invocation().unwrap().context.request_id,
            "req-2"
        );

        let requests: Vec<Seen> = seen.iter().take(3).collect();
        assert_eq!(
            requests[0].request_line,
            "GET /2018-06-01/runtime/invocation/next HTTP/1.1"
        );
        assert_eq!(
            requests[1].request_line,
            "POST /2018-06-01/runtime/invocation/req-1/response HTTP/1.1"
        );
        assert_eq!(requests[1].body, b"{\"ok\":true}");
        assert_eq!(
            requests[1].header("Lambda-Runtime-Function-Error-Type"),
            None
        );
        assert!(
            requests.iter().all(|r| r.connection == 1),
            "one connection for all: {requests:?}"
        );
    }

    #[test]
    fn errors_carry_the_error_type_header_and_lambdas_body() {
        let (address, seen) = serve(vec![
            http("202 Accepted", &[], ""),
            http("202 Accepted", &[], ""),
        ]);
        let client = RuntimeApiClient::new(&address);
        let error = ErrorResponse::new(ErrorType::CommandTimeout, "stopped")
            .with_stack_trace(vec!["at x".into()]);
        client.send_error("req-9", &error).unwrap();
        client
            .send_init_error(&ErrorResponse::named("Hover.InvalidManifest", "bad"))
            .unwrap();

        let invocation_error = seen.recv().unwrap();
        assert_eq!(
            invocation_error.request_line,
            "POST /2018-06-01/runtime/invocation/req-9/error HTTP/1.1"
        );
        assert_eq!(
            invocation_error.header("Lambda-Runtime-Function-Error-Type"),
            Some("Hover.CommandTimeout")
        );
        let body: serde_json::Value = serde_json::from_slice(&invocation_error.body).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"errorMessage": "stopped", "errorType": "Hover.CommandTimeout", "stackTrace": ["at x"]})
        );
        let init_error = seen.recv().unwrap();
        assert_eq!(
            init_error.request_line,
            "POST /2018-06-01/runtime/init/error HTTP/1.1"
        );
        assert_eq!(
            init_error.header("Lambda-Runtime-Function-Error-Type"),
            Some("Hover.InvalidManifest")
        );
    }

    #[test]
    fn payload_too_large_is_reported_not_raised() {
        let too_large = r#"{"errorMessage":"Exceeded maximum allowed payload size (6291556 bytes).","errorType":"RequestEntityTooLarge"}"#;
        let (address, _seen) = serve(vec![http("413 Request Entity Too Large", &[], too_large)]);
        let client = RuntimeApiClient::new(&address);
        assert_eq!(
            client.send_response("req-1", b"{}").unwrap(),
            Delivery::TooLarge(too_large.into())
        );
    }

    #[test]
    fn other_refusals_are_errors_with_the_status() {
        let (address, _seen) = serve(vec![http("400 Bad Request", &[], "invalid request id")]);
        let client = RuntimeApiClient::new(&address);
        let error = client.send_response("req-1", b"{}").unwrap_err();
        assert!(
            matches!(&error, RuntimeApiError::Rejected { status: 400, body, .. } if body == "invalid request id"),
            "{error}"
        );
    }

    #[test]
    fn an_invocation_without_a_usable_deadline_is_answered_and_skipped() {
        let (address, seen) = serve(vec![
            http(
                "200 OK",
                &[("Lambda-Runtime-Aws-Request-Id", "bad-1")],
                "{}",
            ),
            http("202 Accepted", &[], ""),
            invocation("good-2", "{}"),
        ]);
        let client = RuntimeApiClient::new(&address);
        assert_eq!(
            client.next_invocation().unwrap().context.request_id,
            "good-2"
        );
        let requests: Vec<Seen> = seen.iter().take(3).collect();
        assert_eq!(
            requests[1].request_line,
            "POST /2018-06-01/runtime/invocation/bad-1/error HTTP/1.1"
        );
        assert_eq!(
            requests[1].header("Lambda-Runtime-Function-Error-Type"),
            Some("Hover.InvalidInvocation")
        );
    }

    #[test]
    fn an_invocation_without_a_request_id_is_a_protocol_error() {
        let (address, _seen) = serve(vec![http(
            "200 OK",
            &[("Lambda-Runtime-Deadline-Ms", "1")],
            "{}",
        )]);
        let error = RuntimeApiClient::new(&address)
            .next_invocation()
            .unwrap_err();
        assert!(
            error.to_string().contains("Lambda-Runtime-Aws-Request-Id"),
            "{error}"
        );
    }

    #[test]
    fn an_unreachable_api_is_retried_briefly_then_reported() {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let started = std::time::Instant::now();
        let error = RuntimeApiClient::new(&format!("127.0.0.1:{port}"))
            .next_invocation()
            .unwrap_err();
        let elapsed = started.elapsed();
        assert!(
            matches!(error, RuntimeApiError::Unreachable { attempts: 6, .. }),
            "{error}"
        );
        assert!(
            error.to_string().contains(&format!("127.0.0.1:{port}")),
            "{error}"
        );
        assert!(
            elapsed >= Duration::from_millis(1_500) && elapsed < Duration::from_secs(5),
            "{elapsed:?}"
        );
    }

    #[test]
    fn an_address_that_does_not_resolve_fails_every_call_at_once() {
        let client = RuntimeApiClient::new("127.0.0.1");
        let started = std::time::Instant::now();
        let error = client.next_invocation().unwrap_err();
        assert!(
            matches!(&error, RuntimeApiError::Unresolvable { address, .. } if address == "127.0.0.1"),
            "{error}"
        );
        assert!(started.elapsed() < Duration::from_millis(50), "not retried");
        let error = client.send_response("req-1", b"{}").unwrap_err();
        assert!(
            error
                .to_string()
                .starts_with("the Lambda Runtime API address 127.0.0.1 does not resolve: "),
            "{error}"
        );
    }

    #[test]
    fn request_ids_are_escaped_into_one_path_segment() {
        assert_eq!(
            path_segment("8476a536-e9f4-11e8-9739-2dfe598c3fcd"),
            "8476a536-e9f4-11e8-9739-2dfe598c3fcd"
        );
        assert_eq!(path_segment("a/b?c#d e"), "a%2Fb%3Fc%23d%20e");
        assert_eq!(path_segment("100%"), "100%25");
        assert_eq!(path_segment(".."), "%2E%2E");
        assert_eq!(path_segment("é✓"), "%C3%A9%E2%9C%93");
    }

    #[test]
    fn any_request_id_can_be_answered() {
        let odd = "a/b?c#d e%..é";
        let (address, seen) = serve(vec![
            invocation(odd, "{}"),
            http("202 Accepted", &[], ""),
            http("202 Accepted", &[], ""),
        ]);
        let client = RuntimeApiClient::new(&address);
        let invocation = client.next_invocation().unwrap();
        assert_eq!(invocation.context.request_id, odd);
        assert_eq!(
            client
                .send_response(&invocation.context.request_id, b"{}")
                .unwrap(),
            Delivery::Accepted
        );
        client
            .send_error(
                &invocation.context.request_id,
                &ErrorResponse::named("Hover.Test", "x"),
            )
            .unwrap();
        let requests: Vec<Seen> = seen.iter().take(3).collect();
        assert_eq!(
            requests[1].request_line,
            "POST /2018-06-01/runtime/invocation/a%2Fb%3Fc%23d%20e%25%2E%2E%C3%A9/response HTTP/1.1"
        );
        assert_eq!(
            requests[2].request_line,
            "POST /2018-06-01/runtime/invocation/a%2Fb%3Fc%23d%20e%25%2E%2E%C3%A9/error HTTP/1.1"
        );
    }

    /// Accepts one connection and hands it to `script`, which plays the Runtime API.
    fn serve_one(script: impl FnOnce(BufReader<TcpStream>, TcpStream) + Send + 'static) -> String {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        thread::spawn(move || {
            let (stream, _) = listener.accept().unwrap();
            let writer = stream.try_clone().unwrap();
            script(BufReader::new(stream), writer);
        });
        address
    }

    /// Keeps the connection open, silent, until the client closes it.
    fn hold(mut reader: BufReader<TcpStream>) {
        let _ = reader.read_to_end(&mut Vec::new());
    }

    const SHORT: Limits = Limits {
        connect: Duration::from_millis(300),
        send_request: Duration::from_millis(300),
        body: Duration::from_millis(300),
        post: Duration::from_millis(600),
    };

    fn assert_took(started: std::time::Instant, limit: Duration) {
        let elapsed = started.elapsed();
        assert!(
            elapsed >= limit && elapsed < limit + Duration::from_secs(2),
            "{elapsed:?} for a limit of {limit:?}"
        );
    }

    #[test]
    fn a_next_body_that_stalls_after_its_head_is_an_error_not_a_hang() {
        let address = serve_one(|mut reader, mut writer| {
            read_request(&mut reader, 1).unwrap();
            let head = invocation("stalled-1", &"x".repeat(100));
            // The head and 10 bytes of the 100 the head announces, then nothing.
            writer
                .write_all(&head.as_bytes()[..head.len() - 90])
                .unwrap();
            hold(reader);
        });
        let client = RuntimeApiClient::with_limits(&address, SHORT);
        let started = std::time::Instant::now();
        let error = client.next_invocation().unwrap_err();
        assert_took(started, SHORT.body);
        assert!(
            matches!(&error, RuntimeApiError::Transport { error, .. } if error.contains("timeout")),
            "{error}"
        );
    }

    #[test]
    fn the_wait_for_the_head_of_next_has_no_limit() {
        // Every limit is shorter than the wait; the invocation still arrives.
        let address = serve_one(|mut reader, mut writer| {
            read_request(&mut reader, 1).unwrap();
            thread::sleep(SHORT.post * 3);
            writer
                .write_all(invocation("patient-1", "{}").as_bytes())
                .unwrap();
            hold(reader);
        });
        let client = RuntimeApiClient::with_limits(&address, SHORT);
        assert_eq!(
            client.next_invocation().unwrap().context.request_id,
            "patient-1"
        );
    }

    #[test]
    fn a_post_left_unanswered_is_an_error_within_the_post_limit() {
        let address = serve_one(|mut reader, _writer| {
            read_request(&mut reader, 1).unwrap();
            hold(reader);
        });
        let client = RuntimeApiClient::with_limits(&address, SHORT);
        let started = std::time::Instant::now();
        let error = client.send_response("req-1", b"{}").unwrap_err();
        assert_took(started, SHORT.post);
        assert!(
            matches!(&error, RuntimeApiError::Transport { error, .. } if error.contains("timeout")),
            "{error}"
        );
    }

    #[test]
    fn a_post_whose_body_is_never_read_is_an_error_within_the_post_limit() {
        // The server reads the head only: 32 MB cannot fit in loopback's socket buffers,
        // so the client's writes block.
        let address = serve_one(|mut reader, _writer| {
            read_head_only(&mut reader);
            thread::sleep(SHORT.post * 4);
        });
        let client = RuntimeApiClient::with_limits(&address, SHORT);
        let started = std::time::Instant::now();
        let error = client
            .send_response("req-1", &vec![b' '; 32 * 1024 * 1024])
            .unwrap_err();
        assert_took(started, SHORT.post);
        assert!(
            matches!(&error, RuntimeApiError::Transport { error, .. } if error.contains("timeout")),
            "{error}"
        );
    }

    #[test]
    fn next_survives_an_api_that_comes_up_late() {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap().to_string();
        drop(listener);
        let late = address.clone();
        thread::spawn(move || {
            thread::sleep(Duration::from_millis(120));
            let listener = TcpListener::bind(&late).unwrap();
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            read_request(&mut reader, 1).unwrap();
            (&stream)
                .write_all(invocation("late-1", "{}").as_bytes())
                .unwrap();
            thread::sleep(Duration::from_millis(200));
        });
        let invocation = RuntimeApiClient::new(&address).next_invocation().unwrap();
        assert_eq!(invocation.context.request_id, "late-1");
    }
}
