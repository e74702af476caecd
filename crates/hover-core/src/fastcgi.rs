//! A FastCGI client for php-fpm: the responder role, one request per connection over a Unix
//! socket, blocking its caller until the response has ended or a deadline has passed.
//!
//! Every request opens a connection of its own, which php-fpm closes once it has answered:
//! a connection kept open for many requests breaks whenever php-fpm recycles the worker
//! behind it (`pm.max_requests`).
//!
//! The framing is the FastCGI 1.0 specification's, written by hand: it is small, and the
//! crates that implement it are asynchronous (tokio) and allocate per record. This one is on
//! the path of every HTTP request, so it allocates nothing per record, sends the whole
//! request with one `sendmsg` in the common case (gathered: the body is not copied), reads
//! 64 KiB at a time, and keeps its buffers from one request to the next. Writing the body
//! and reading the response are interleaved with `poll`, so that a large body cannot
//! deadlock against a script that answers before it has read it.

use std::fmt;
use std::io::{self, IoSlice};
use std::os::fd::OwnedFd;
use std::path::Path;
use std::thread;
use std::time::{Duration, Instant};

use rustix::event::{PollFd, PollFlags, Timespec, poll};
use rustix::io::Errno;
use rustix::net::{
    AddressFamily, SendAncillaryBuffer, SendFlags, SocketAddrUnix, SocketFlags, SocketType,
};

const VERSION: u8 = 1;
const HEADER_LEN: usize = 8;
/// A record's content length is two bytes.
const MAX_CONTENT_LEN: usize = u16::MAX as usize;
/// The request is alone on its connection.
const REQUEST_ID: u16 = 1;

// Record types.
const BEGIN_REQUEST: u8 = 1;
const END_REQUEST: u8 = 3;
const PARAMS: u8 = 4;
const STDIN: u8 = 5;
const STDOUT: u8 = 6;
const STDERR: u8 = 7;

const BEGIN_REQUEST_BODY_LEN: usize = 8;
const RESPONDER: u16 = 1;
/// BEGIN_REQUEST's flags: without `FCGI_KEEP_CONN`, php-fpm closes the connection after
/// its answer.
const CLOSE_AFTER_REQUEST: u8 = 0;
const END_REQUEST_BODY_LEN: usize = 8;
const REQUEST_COMPLETE: u8 = 0;

const READ_BUFFER_LEN: usize = 64 * 1024;
/// Linux's `IOV_MAX`: the most slices one `sendmsg` takes.
const MAX_SLICES_PER_SEND: usize = 1024;
/// How long to wait before connecting again while php-fpm's listen queue is full (a Unix
/// socket cannot be polled for room in it).
const CONNECT_RETRY: Duration = Duration::from_millis(1);

/// One request: the parameters (CGI variables, HTTP headers as `HTTP_*`), and the body.
pub struct Request<'a, N, V> {
    /// Names and values, sent in this order.
    pub params: &'a [(N, V)],
    /// The body, as `CONTENT_LENGTH` says.
    pub stdin: &'a [u8],
}

/// php-fpm's answer to a request that it completed.
#[derive(Debug)]
pub struct Response {
    /// What the script wrote (headers, blank line, body), up to the cap given to
    /// [`FastCgiClient::send`].
    pub stdout: Vec<u8>,
    /// How many bytes the script wrote in all, including those past the cap.
    pub stdout_total: usize,
    /// The application's status from END_REQUEST (php-fpm sends 0).
    pub app_status: u32,
}

/// Where a request was when its deadline passed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stage {
    /// php-fpm's listen queue stayed full.
    Connecting,
    /// php-fpm did not read the whole request.
    Sending,
    /// php-fpm did not end its response.
    Receiving,
}

/// Why a request got no response.
#[derive(Debug)]
pub enum FastCgiError {
    /// The socket could not be connected to: php-fpm is not running, or not listening yet.
    Connect(io::Error),
    /// The deadline passed. A request that was sent may still be running in php-fpm.
    Timeout { stage: Stage },
    /// Reading from or writing to the connection failed.
    Io(io::Error),
    /// A parameter takes more than one PARAMS record holds, and a pair cannot be split.
    ParamTooLarge {
        /// The start of its name, for messages.
        name: String,
        /// The bytes its name, value and their lengths take.
        encoded_len: usize,
    },
    /// php-fpm sent something that is not FastCGI as this client speaks it.
    Protocol(String),
    /// php-fpm ended the request with a protocol status other than `FCGI_REQUEST_COMPLETE`.
    Rejected { protocol_status: u8 },
    /// The connection closed before the response ended: the worker died mid-request.
    ClosedEarly,
}

impl fmt::Display for FastCgiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Connect(error) => write!(f, "cannot connect to php-fpm: {error}"),
            Self::Timeout {
                stage: Stage::Connecting,
            } => f.write_str("php-fpm did not accept the connection in time (its queue is full)"),
            Self::Timeout {
                stage: Stage::Sending,
            } => f.write_str("php-fpm did not read the whole request in time"),
            Self::Timeout {
                stage: Stage::Receiving,
            } => f.write_str("php-fpm did not finish its response in time"),
            Self::Io(error) => write!(f, "the connection to php-fpm failed: {error}"),
            Self::ParamTooLarge { name, encoded_len } => write!(
                f,
                "the FastCGI parameter {name} takes {encoded_len} bytes, more than a record \
                 holds ({MAX_CONTENT_LEN})"
            ),
            Self::Protocol(problem) => write!(f, "php-fpm broke the FastCGI protocol: {problem}"),
            Self::Rejected { protocol_status } => {
                f.write_str("php-fpm refused the request: ")?;
                match protocol_status {
                    1 => f.write_str("it cannot multiplex connections"),
                    2 => f.write_str("it is overloaded"),
                    3 => f.write_str("it does not play the responder role"),
                    other => write!(f, "protocol status {other}"),
                }
            }
            Self::ClosedEarly => f.write_str(
                "php-fpm closed the connection before ending its response (did its worker die?)",
            ),
        }
    }
}

impl std::error::Error for FastCgiError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Connect(error) | Self::Io(error) => Some(error),
            _ => None,
        }
    }
}

/// A client of one php-fpm socket. It keeps its buffers between requests.
pub struct FastCgiClient {
    address: SocketAddrUnix,
    /// The request's records but for STDIN's content, which is sent from the caller's slice.
    records: Vec<u8>,
    read_buffer: Box<[u8]>,
}

impl FastCgiClient {
    /// Fails only if `socket` cannot be a Unix socket's address (too long, or with a NUL).
    pub fn new(socket: &Path) -> io::Result<Self> {
        Ok(Self {
            address: SocketAddrUnix::new(socket)?,
            records: Vec::new(),
            read_buffer: vec![0; READ_BUFFER_LEN].into_boxed_slice(),
        })
    }

    /// Sends `request` on a new connection and waits until php-fpm ends its response, or
    /// until `deadline`. Of the output, `max_stdout` bytes are kept and the rest is counted;
    /// the bytes of STDERR records (PHP's log when its `error_log` is unset) are passed to
    /// `on_stderr` as they come, a record possibly in several pieces.
    pub fn send<N: AsRef<[u8]>, V: AsRef<[u8]>>(
        &mut self,
        request: &Request<'_, N, V>,
        deadline: Instant,
        max_stdout: usize,
        on_stderr: &mut dyn FnMut(&[u8]),
    ) -> Result<Response, FastCgiError> {
        // Too late already: php-fpm would run a request that nobody waits for.
        if Instant::now() >= deadline {
            return Err(FastCgiError::Timeout {
                stage: Stage::Connecting,
            });
        }
        let mut unsent = encode_request(&mut self.records, request.params, request.stdin)?;
        let socket = connect(&self.address, deadline)?;
        let mut reader = ResponseReader::new(max_stdout, on_stderr);
        exchange(
            &socket,
            &mut unsent,
            &mut self.read_buffer,
            &mut reader,
            deadline,
        )?;
        Ok(reader.into_response())
    }
}

/// Encodes the request into `records` and returns it as the slices to send: BEGIN_REQUEST,
/// the PARAMS records and their terminator, then STDIN headers alternating with `stdin`'s
/// chunks, then STDIN's terminator. No padding: it is optional.
fn encode_request<'r, N: AsRef<[u8]>, V: AsRef<[u8]>>(
    records: &'r mut Vec<u8>,
    params: &[(N, V)],
    stdin: &'r [u8],
) -> Result<Vec<IoSlice<'r>>, FastCgiError> {
    records.clear();
    push_header(records, BEGIN_REQUEST, BEGIN_REQUEST_BODY_LEN);
    records.extend_from_slice(&RESPONDER.to_be_bytes());
    records.extend_from_slice(&[CLOSE_AFTER_REQUEST, 0, 0, 0, 0, 0]);
    push_params(records, params)?;
    let chunks = stdin.chunks(MAX_CONTENT_LEN);
    let stdin_headers_start = records.len();
    for chunk in chunks.clone() {
        push_header(records, STDIN, chunk.len());
    }
    push_header(records, STDIN, 0);

    let records: &'r [u8] = records;
    let mut slices = Vec::with_capacity(2 * chunks.len() + 1);
    let mut start = 0;
    let mut end = stdin_headers_start + HEADER_LEN;
    for chunk in chunks {
        slices.push(IoSlice::new(&records[start..end]));
        slices.push(IoSlice::new(chunk));
        start = end;
        end += HEADER_LEN;
    }
    slices.push(IoSlice::new(&records[start..]));
    Ok(slices)
}

/// PARAMS records holding as many whole pairs as fit (a pair never spans two records), then
/// the empty one that ends them.
fn push_params<N: AsRef<[u8]>, V: AsRef<[u8]>>(
    records: &mut Vec<u8>,
    params: &[(N, V)],
) -> Result<(), FastCgiError> {
    let mut record_start = records.len();
    push_header(records, PARAMS, 0);
    for (name, value) in params {
        let (name, value) = (name.as_ref(), value.as_ref());
        let encoded_len =
            length_len(name.len()) + length_len(value.len()) + name.len() + value.len();
        if encoded_len > MAX_CONTENT_LEN {
            return Err(FastCgiError::ParamTooLarge {
                name: String::from_utf8_lossy(&name[..name.len().min(64)]).into_owned(),
                encoded_len,
            });
        }
        if records.len() - record_start - HEADER_LEN + encoded_len > MAX_CONTENT_LEN {
            close_record(records, record_start);
            record_start = records.len();
            push_header(records, PARAMS, 0);
        }
        push_length(records, name.len());
        push_length(records, value.len());
        records.extend_from_slice(name);
        records.extend_from_slice(value);
    }
    // An open record still empty is the terminator itself.
    if records.len() > record_start + HEADER_LEN {
        close_record(records, record_start);
        push_header(records, PARAMS, 0);
    }
    Ok(())
}

/// A header for a record of our request, without padding.
fn push_header(records: &mut Vec<u8>, record_type: u8, content_len: usize) {
    let [id_high, id_low] = REQUEST_ID.to_be_bytes();
    let [len_high, len_low] = (content_len as u16).to_be_bytes();
    records.extend_from_slice(&[
        VERSION,
        record_type,
        id_high,
        id_low,
        len_high,
        len_low,
        0,
        0,
    ]);
}

/// Writes the content length of the record whose header starts at `start`.
fn close_record(records: &mut [u8], start: usize) {
    let content_len = (records.len() - start - HEADER_LEN) as u16;
    records[start + 4..start + 6].copy_from_slice(&content_len.to_be_bytes());
}

/// A name's or value's length: one byte below 128, else four with the high bit set.
fn length_len(len: usize) -> usize {
    if len < 128 { 1 } else { 4 }
}

fn push_length(records: &mut Vec<u8>, len: usize) {
    if len < 128 {
        records.push(len as u8);
    } else {
        // Below 2^31: the whole pair fits in a record.
        records.extend_from_slice(&(len as u32 | 1 << 31).to_be_bytes());
    }
}

fn connect(address: &SocketAddrUnix, deadline: Instant) -> Result<OwnedFd, FastCgiError> {
    let socket = rustix::net::socket_with(
        AddressFamily::UNIX,
        SocketType::STREAM,
        SocketFlags::CLOEXEC | SocketFlags::NONBLOCK,
        None,
    )
    .map_err(|error| FastCgiError::Io(error.into()))?;
    loop {
        match rustix::net::connect(&socket, address) {
            Ok(()) => return Ok(socket),
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) if Instant::now() + CONNECT_RETRY < deadline => {
                thread::sleep(CONNECT_RETRY);
            }
            Err(Errno::AGAIN) => {
                return Err(FastCgiError::Timeout {
                    stage: Stage::Connecting,
                });
            }
            Err(error) => return Err(FastCgiError::Connect(error.into())),
        }
    }
}

/// Sends what is unsent and reads the response until its END_REQUEST, whichever way
/// php-fpm is ready for.
fn exchange(
    socket: &OwnedFd,
    mut unsent: &mut [IoSlice<'_>],
    read_buffer: &mut [u8],
    reader: &mut ResponseReader<'_>,
    deadline: Instant,
) -> Result<(), FastCgiError> {
    // The socket's buffer is empty: most requests go out whole, before any poll.
    send_available(socket, &mut unsent)?;
    loop {
        let ready = wait(socket, !unsent.is_empty(), deadline)?;
        if !unsent.is_empty() && ready.intersects(PollFlags::OUT | PollFlags::ERR) {
            send_available(socket, &mut unsent)?;
        }
        if ready.intersects(PollFlags::IN | PollFlags::HUP | PollFlags::ERR)
            && read_available(socket, read_buffer, reader)?
        {
            return Ok(());
        }
    }
}

/// Waits until the socket can be read, or written while `sending`.
fn wait(socket: &OwnedFd, sending: bool, deadline: Instant) -> Result<PollFlags, FastCgiError> {
    let events = if sending {
        PollFlags::IN | PollFlags::OUT
    } else {
        PollFlags::IN
    };
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            let stage = if sending {
                Stage::Sending
            } else {
                Stage::Receiving
            };
            return Err(FastCgiError::Timeout { stage });
        }
        let timeout = Timespec::try_from(left).unwrap_or(Timespec {
            tv_sec: i64::MAX,
            tv_nsec: 0,
        });
        let mut fds = [PollFd::new(socket, events)];
        match poll(&mut fds, Some(&timeout)) {
            Ok(0) | Err(Errno::INTR) => {}
            Ok(_) => return Ok(fds[0].revents()),
            Err(error) => return Err(FastCgiError::Io(error.into())),
        }
    }
}

/// Sends until everything is sent or the socket's buffer is full.
fn send_available(socket: &OwnedFd, unsent: &mut &mut [IoSlice<'_>]) -> Result<(), FastCgiError> {
    while !unsent.is_empty() {
        let batch = &unsent[..unsent.len().min(MAX_SLICES_PER_SEND)];
        let batch_len: usize = batch.iter().map(|slice| slice.len()).sum();
        // `NOSIGNAL`: a closed connection is an error to handle, not a SIGPIPE.
        let flags = SendFlags::NOSIGNAL;
        match rustix::net::sendmsg(socket, batch, &mut SendAncillaryBuffer::default(), flags) {
            Ok(sent) => {
                IoSlice::advance_slices(unsent, sent);
                if sent < batch_len {
                    return Ok(());
                }
            }
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => return Ok(()),
            // php-fpm closed its end. What it sent before, or that no END_REQUEST comes,
            // tells the reader how the request ended.
            Err(Errno::PIPE | Errno::CONNRESET) => *unsent = &mut [],
            Err(error) => return Err(FastCgiError::Io(error.into())),
        }
    }
    Ok(())
}

/// Reads what has come; true once the response has ended.
fn read_available(
    socket: &OwnedFd,
    buffer: &mut [u8],
    reader: &mut ResponseReader<'_>,
) -> Result<bool, FastCgiError> {
    loop {
        match rustix::io::read(socket, &mut *buffer) {
            Ok(0) | Err(Errno::CONNRESET) => return Err(FastCgiError::ClosedEarly),
            Ok(len) => {
                if reader.feed(&buffer[..len])? {
                    return Ok(true);
                }
                // A short read emptied the socket: the next read would only fail.
                if len < buffer.len() {
                    return Ok(false);
                }
            }
            Err(Errno::INTR) => {}
            Err(Errno::AGAIN) => return Ok(false),
            Err(error) => return Err(FastCgiError::Io(error.into())),
        }
    }
}

/// The response's records, decoded from bytes as they come, in pieces of any size.
struct ResponseReader<'a> {
    state: ReadState,
    header: [u8; HEADER_LEN],
    end_request: [u8; END_REQUEST_BODY_LEN],
    stdout: Vec<u8>,
    stdout_total: usize,
    max_stdout: usize,
    app_status: u32,
    on_stderr: &'a mut dyn FnMut(&[u8]),
}

#[derive(Clone, Copy)]
enum ReadState {
    /// `filled` bytes of a record's header have come.
    Header { filled: usize },
    /// A record's content, then its padding, are coming.
    Body {
        content: Content,
        content_left: usize,
        padding_left: usize,
    },
}

/// What a record's content is to this client.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Content {
    Stdout,
    Stderr,
    EndRequest,
    /// Another request's, or of a type that a responder's client has no use for.
    Skipped,
}

impl<'a> ResponseReader<'a> {
    fn new(max_stdout: usize, on_stderr: &'a mut dyn FnMut(&[u8])) -> Self {
        Self {
            state: ReadState::Header { filled: 0 },
            header: [0; HEADER_LEN],
            end_request: [0; END_REQUEST_BODY_LEN],
            stdout: Vec::new(),
            stdout_total: 0,
            max_stdout,
            app_status: 0,
            on_stderr,
        }
    }

    /// Takes the next bytes of the stream; true once our END_REQUEST has come (whatever
    /// follows it is ignored).
    fn feed(&mut self, mut input: &[u8]) -> Result<bool, FastCgiError> {
        while !input.is_empty() {
            match self.state {
                ReadState::Header { filled } => {
                    let taken = (HEADER_LEN - filled).min(input.len());
                    self.header[filled..filled + taken].copy_from_slice(&input[..taken]);
                    input = &input[taken..];
                    self.state = if filled + taken == HEADER_LEN {
                        self.start_record()?
                    } else {
                        ReadState::Header {
                            filled: filled + taken,
                        }
                    };
                }
                ReadState::Body {
                    content,
                    content_left,
                    padding_left,
                } => {
                    let (content_left, padding_left) = if content_left > 0 {
                        let (data, rest) = input.split_at(content_left.min(input.len()));
                        input = rest;
                        self.take_content(content, data, content_left);
                        let content_left = content_left - data.len();
                        if content == Content::EndRequest && content_left == 0 {
                            self.end_request()?;
                            return Ok(true);
                        }
                        (content_left, padding_left)
                    } else {
                        let skipped = padding_left.min(input.len());
                        input = &input[skipped..];
                        (0, padding_left - skipped)
                    };
                    self.state = if content_left == 0 && padding_left == 0 {
                        ReadState::Header { filled: 0 }
                    } else {
                        ReadState::Body {
                            content,
                            content_left,
                            padding_left,
                        }
                    };
                }
            }
        }
        Ok(false)
    }

    /// Reads the header that has just come.
    fn start_record(&self) -> Result<ReadState, FastCgiError> {
        let [
            version,
            record_type,
            id_high,
            id_low,
            len_high,
            len_low,
            padding_len,
            _,
        ] = self.header;
        if version != VERSION {
            return Err(FastCgiError::Protocol(format!(
                "a record of version {version} (is this php-fpm's socket?)"
            )));
        }
        let content_len = usize::from(u16::from_be_bytes([len_high, len_low]));
        let content = match (u16::from_be_bytes([id_high, id_low]), record_type) {
            (REQUEST_ID, STDOUT) => Content::Stdout,
            (REQUEST_ID, STDERR) => Content::Stderr,
            (REQUEST_ID, END_REQUEST) => Content::EndRequest,
            _ => Content::Skipped,
        };
        if content == Content::EndRequest && content_len != END_REQUEST_BODY_LEN {
            return Err(FastCgiError::Protocol(format!(
                "an END_REQUEST of {content_len} bytes, not {END_REQUEST_BODY_LEN}"
            )));
        }
        Ok(ReadState::Body {
            content,
            content_left: content_len,
            padding_left: usize::from(padding_len),
        })
    }

    /// `data`: the next bytes of a record's content, of which `content_left` were left.
    fn take_content(&mut self, content: Content, data: &[u8], content_left: usize) {
        match content {
            Content::Stdout => {
                let kept = data.len().min(self.max_stdout - self.stdout.len());
                self.stdout.extend_from_slice(&data[..kept]);
                self.stdout_total += data.len();
            }
            Content::Stderr => (self.on_stderr)(data),
            Content::EndRequest => {
                let start = END_REQUEST_BODY_LEN - content_left;
                self.end_request[start..start + data.len()].copy_from_slice(data);
            }
            Content::Skipped => {}
        }
    }

    fn end_request(&mut self) -> Result<(), FastCgiError> {
        let [status_3, status_2, status_1, status_0, protocol_status, ..] = self.end_request;
        if protocol_status != REQUEST_COMPLETE {
            return Err(FastCgiError::Rejected { protocol_status });
        }
        self.app_status = u32::from_be_bytes([status_3, status_2, status_1, status_0]);
        Ok(())
    }

    fn into_response(self) -> Response {
        Response {
            stdout: self.stdout,
            stdout_total: self.stdout_total,
            app_status: self.app_status,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::net::{UnixListener, UnixStream};
    use std::path::PathBuf;
    use std::sync::mpsc;
    use std::thread::JoinHandle;

    // The expected bytes below are written from the specification: a header is version,
    // type, request id (2 bytes), content length (2 bytes), padding length, reserved.

    const BEGIN: [u8; 16] = [1, 1, 0, 1, 0, 8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0];
    const PARAMS_END: [u8; 8] = [1, 4, 0, 1, 0, 0, 0, 0];
    const STDIN_END: [u8; 8] = [1, 5, 0, 1, 0, 0, 0, 0];
    const END_REQUEST_COMPLETE: [u8; 16] = [1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

    fn encoded(params: &[(&[u8], &[u8])], stdin: &[u8]) -> Result<Vec<u8>, FastCgiError> {
        let mut records = Vec::new();
        let slices = encode_request(&mut records, params, stdin)?;
        Ok(slices
            .iter()
            .flat_map(|slice| slice.iter().copied())
            .collect())
    }

    fn concat(parts: &[&[u8]]) -> Vec<u8> {
        parts.concat()
    }

    /// Like `assert_eq!`, without printing megabytes.
    #[track_caller]
    fn assert_same_bytes(actual: &[u8], expected: &[u8]) {
        let first_difference = actual.iter().zip(expected).position(|(a, e)| a != e);
        assert!(
            actual == expected,
            "{} bytes instead of {}, first difference at {first_difference:?}",
            actual.len(),
            expected.len()
        );
    }

    #[test]
    fn a_request_is_begin_params_and_stdin_each_with_its_terminator() {
        let bytes = encoded(&[(b"A", b"b")], b"hi").unwrap();
        let expected = concat(&[
            &BEGIN,
            &[1, 4, 0, 1, 0, 4, 0, 0, 1, 1, b'A', b'b'],
            &PARAMS_END,
            &[1, 5, 0, 1, 0, 2, 0, 0, b'h', b'i'],
            &STDIN_END,
        ]);
        assert_same_bytes(&bytes, &expected);
    }

    #[test]
    fn an_empty_request_still_ends_params_and_stdin() {
        let bytes = encoded(&[], b"").unwrap();
        assert_same_bytes(&bytes, &concat(&[&BEGIN, &PARAMS_END, &STDIN_END]));
    }

    #[test]
    fn lengths_below_128_take_one_byte_and_others_four_with_the_high_bit() {
        let (name_127, value_128) = (vec![b'n'; 127], vec![b'v'; 128]);
        let (name_200, value_300) = (vec![b'N'; 200], vec![b'V'; 300]);
        let params: [(&[u8], &[u8]); 2] = [(&name_127, &value_128), (&name_200, &value_300)];
        let bytes = encoded(&params, b"").unwrap();
        // 1 + 4 + 127 + 128 = 260, then 4 + 4 + 200 + 300 = 508: 768 = 0x0300.
        let expected = concat(&[
            &BEGIN,
            &[1, 4, 0, 1, 0x03, 0x00, 0, 0],
            &[0x7f, 0x80, 0, 0, 0x80],
            &name_127,
            &value_128,
            &[0x80, 0, 0, 0xc8, 0x80, 0, 0x01, 0x2c],
            &name_200,
            &value_300,
            &PARAMS_END,
            &STDIN_END,
        ]);
        assert_same_bytes(&bytes, &expected);
    }

    #[test]
    fn a_pair_that_fills_a_record_exactly_is_sent_and_one_byte_more_is_refused() {
        // 1 (name length) + 4 (value length) + 1 + 65,529 = 65,535.
        let value = vec![b'v'; 65_529];
        let bytes = encoded(&[(b"N", &value)], b"").unwrap();
        let expected = concat(&[
            &BEGIN,
            &[1, 4, 0, 1, 0xff, 0xff, 0, 0],
            &[1, 0x80, 0, 0xff, 0xf9, b'N'],
            &value,
            &PARAMS_END,
            &STDIN_END,
        ]);
        assert_same_bytes(&bytes, &expected);

        let value = vec![b'v'; 65_530];
        let error = encoded(&[(b"N", &value)], b"").unwrap_err();
        assert!(
            matches!(
                &error,
                FastCgiError::ParamTooLarge { name, encoded_len: 65_536 } if name == "N"
            ),
            "{error:?}"
        );
        assert!(error.to_string().contains("65536 bytes"), "{error}");
    }

    #[test]
    fn pairs_never_span_two_records_and_as_many_as_fit_share_one() {
        let (a, b) = (vec![b'a'; 40_000], vec![b'b'; 40_000]);
        let params: [(&[u8], &[u8]); 3] = [(b"A", &a), (b"B", &b), (b"C", b"c")];
        let bytes = encoded(&params, b"").unwrap();
        // A takes 1 + 4 + 1 + 40,000 = 40,006 = 0x9c46 bytes: B cannot join it; C (4 bytes)
        // joins B: 40,010 = 0x9c4a.
        let expected = concat(&[
            &BEGIN,
            &[1, 4, 0, 1, 0x9c, 0x46, 0, 0, 1, 0x80, 0, 0x9c, 0x40, b'A'],
            &a,
            &[1, 4, 0, 1, 0x9c, 0x4a, 0, 0, 1, 0x80, 0, 0x9c, 0x40, b'B'],
            &b,
            &[1, 1, b'C', b'c'],
            &PARAMS_END,
            &STDIN_END,
        ]);
        assert_same_bytes(&bytes, &expected);
    }

    #[test]
    fn stdin_goes_in_records_of_at_most_65535_bytes() {
        let stdin: Vec<u8> = (0..2 * 65_535 + 1).map(|i| i as u8).collect();
        let bytes = encoded(&[], &stdin).unwrap();
        let expected = concat(&[
            &BEGIN,
            &PARAMS_END,
            &[1, 5, 0, 1, 0xff, 0xff, 0, 0],
            &stdin[..65_535],
            &[1, 5, 0, 1, 0xff, 0xff, 0, 0],
            &stdin[65_535..131_070],
            &[1, 5, 0, 1, 0, 1, 0, 0],
            &stdin[131_070..],
            &STDIN_END,
        ]);
        assert_same_bytes(&bytes, &expected);
    }

    /// What a reader made of a stream.
    #[derive(Debug, PartialEq)]
    struct Decoded {
        stdout: Vec<u8>,
        stdout_total: usize,
        app_status: u32,
        stderr: Vec<u8>,
    }

    /// Feeds `stream` cut at `cuts`; `None` if it did not end.
    fn decode(
        stream: &[u8],
        cuts: &[usize],
        max_stdout: usize,
    ) -> Result<Option<Decoded>, FastCgiError> {
        let mut stderr = Vec::new();
        let mut on_stderr = |bytes: &[u8]| stderr.extend_from_slice(bytes);
        let mut reader = ResponseReader::new(max_stdout, &mut on_stderr);
        let mut start = 0;
        let mut ended = false;
        for end in cuts.iter().copied().chain([stream.len()]) {
            if reader.feed(&stream[start..end])? {
                ended = true;
                break;
            }
            start = end;
        }
        let response = reader.into_response();
        Ok(ended.then_some(Decoded {
            stdout: response.stdout,
            stdout_total: response.stdout_total,
            app_status: response.app_status,
            stderr,
        }))
    }

    /// Output, a log line and the end, with padding as php-fpm adds it (to 8 bytes).
    fn padded_response() -> Vec<u8> {
        concat(&[
            &[1, 6, 0, 1, 0, 5, 3, 0],
            b"Hello",
            &[0, 0, 0],
            &[1, 7, 0, 1, 0, 4, 4, 0],
            b"oops",
            &[0, 0, 0, 0],
            &[1, 6, 0, 1, 0, 0, 0, 0],
            &[1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0],
        ])
    }

    fn hello_oops() -> Decoded {
        Decoded {
            stdout: b"Hello".to_vec(),
            stdout_total: 5,
            app_status: 258,
            stderr: b"oops".to_vec(),
        }
    }

    #[test]
    fn stdout_and_stderr_are_kept_apart_and_padding_is_skipped() {
        let decoded = decode(&padded_response(), &[], usize::MAX).unwrap();
        assert_eq!(decoded, Some(hello_oops()));
    }

    #[test]
    fn records_cut_anywhere_across_reads_decode_the_same() {
        let stream = padded_response();
        for cut in 1..stream.len() {
            let decoded = decode(&stream, &[cut], usize::MAX).unwrap();
            assert_eq!(decoded, Some(hello_oops()), "cut at {cut}");
        }
        let every_byte: Vec<usize> = (1..stream.len()).collect();
        let decoded = decode(&stream, &every_byte, usize::MAX).unwrap();
        assert_eq!(decoded, Some(hello_oops()));
    }

    #[test]
    fn other_requests_records_and_unknown_types_are_skipped_and_nothing_after_the_end_is_read() {
        let stream = concat(&[
            // Another request's output and end.
            &[1, 6, 0, 2, 0, 3, 0, 0],
            b"bad",
            &[1, 3, 0, 2, 0, 8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            // A management record (request id 0): FCGI_UNKNOWN_TYPE.
            &[1, 11, 0, 0, 0, 8, 0, 0, 42, 0, 0, 0, 0, 0, 0, 0],
            // A type this client does not know, padded.
            &[1, 42, 0, 1, 0, 2, 6, 0, b'x', b'x', 0, 0, 0, 0, 0, 0],
            &[1, 6, 0, 1, 0, 2, 0, 0],
            b"ok",
            &END_REQUEST_COMPLETE,
            // Not even a record: never read.
            b"garbage!",
        ]);
        let decoded = decode(&stream, &[], usize::MAX).unwrap().unwrap();
        assert_eq!(decoded.stdout, b"ok");
        assert_eq!(decoded.stderr, b"");
    }

    #[test]
    fn output_past_the_cap_is_counted_but_not_kept() {
        let stream = concat(&[
            &[1, 6, 0, 1, 0, 5, 0, 0],
            b"Hello",
            &[1, 6, 0, 1, 0, 6, 0, 0],
            b"World!",
            &END_REQUEST_COMPLETE,
        ]);
        let decoded = decode(&stream, &[7, 15], 4).unwrap().unwrap();
        assert_eq!(decoded.stdout, b"Hell");
        assert_eq!(decoded.stdout_total, 11);
    }

    #[test]
    fn a_stream_cut_short_has_not_ended() {
        let stream = padded_response();
        for len in 0..stream.len() {
            assert_eq!(decode(&stream[..len], &[], usize::MAX).unwrap(), None);
        }
    }

    #[test]
    fn a_request_not_completed_is_rejected() {
        // FCGI_OVERLOADED.
        let stream = [1, 3, 0, 1, 0, 8, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0];
        let error = decode(&stream, &[], usize::MAX).unwrap_err();
        assert!(
            matches!(error, FastCgiError::Rejected { protocol_status: 2 }),
            "{error:?}"
        );
        assert_eq!(
            error.to_string(),
            "php-fpm refused the request: it is overloaded"
        );
    }

    #[test]
    fn another_version_or_a_short_end_request_breaks_the_protocol() {
        let http = b"HTTP/1.1 200 OK\r\n";
        let short_end = [1, 3, 0, 1, 0, 4, 0, 0, 0, 0, 0, 0];
        for stream in [&http[..], &short_end] {
            let error = decode(stream, &[], usize::MAX).unwrap_err();
            assert!(matches!(error, FastCgiError::Protocol(_)), "{error:?}");
        }
    }

    fn socket_path(name: &str) -> PathBuf {
        let path = std::env::temp_dir().join(format!("hover-fcgi-{}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&path);
        path
    }

    /// A server for one connection, played by `script`.
    fn serve(
        name: &str,
        script: impl FnOnce(UnixStream) + Send + 'static,
    ) -> (PathBuf, JoinHandle<()>) {
        let path = socket_path(name);
        let listener = UnixListener::bind(&path).unwrap();
        let server = thread::spawn(move || script(listener.accept().unwrap().0));
        (path, server)
    }

    fn send(
        path: &Path,
        params: &[(&str, &str)],
        stdin: &[u8],
        within: Duration,
    ) -> Result<(Response, Vec<u8>), FastCgiError> {
        let mut stderr = Vec::new();
        let request = Request { params, stdin };
        let response = FastCgiClient::new(path).unwrap().send(
            &request,
            Instant::now() + within,
            usize::MAX,
            &mut |bytes| stderr.extend_from_slice(bytes),
        )?;
        Ok((response, stderr))
    }

    const PATIENCE: Duration = Duration::from_secs(10);

    #[test]
    fn a_round_trip_with_a_response_that_comes_in_pieces() {
        let expected_request = concat(&[
            &BEGIN,
            &[1, 4, 0, 1, 0, 23, 0, 0, 15, 6],
            b"SCRIPT_FILENAME/a.php",
            &PARAMS_END,
            &[1, 5, 0, 1, 0, 4, 0, 0],
            b"body",
            &STDIN_END,
        ]);
        let (path, server) = serve("pieces", move |mut stream| {
            let mut request = vec![0; expected_request.len()];
            stream.read_exact(&mut request).unwrap();
            assert_same_bytes(&request, &expected_request);
            let response = padded_response();
            for piece in [&response[..3], &response[3..20], &response[20..]] {
                stream.write_all(piece).unwrap();
                thread::sleep(Duration::from_millis(20));
            }
        });
        let (response, stderr) =
            send(&path, &[("SCRIPT_FILENAME", "/a.php")], b"body", PATIENCE).unwrap();
        server.join().unwrap();
        assert_eq!(response.stdout, b"Hello");
        assert_eq!(response.stdout_total, 5);
        assert_eq!(response.app_status, 258);
        assert_eq!(stderr, b"oops");
    }

    #[test]
    fn a_connection_closed_before_the_end_request_closed_early() {
        // After reading the request, and without reading it (the client sees a reset).
        for reads_request in [true, false] {
            let (path, server) = serve("early", move |mut stream| {
                if reads_request {
                    let mut request = [0; BEGIN.len() + 16];
                    stream.read_exact(&mut request).unwrap();
                } else {
                    thread::sleep(Duration::from_millis(50));
                }
                stream.write_all(&[1, 6, 0, 1, 0, 9, 0, 0]).unwrap();
                stream.write_all(b"Fatal").unwrap();
            });
            let error = send(&path, &[], b"", PATIENCE).unwrap_err();
            server.join().unwrap();
            assert!(matches!(error, FastCgiError::ClosedEarly), "{error:?}");
        }
    }

    #[test]
    fn a_socket_without_php_fpm_cannot_be_connected_to() {
        let missing = socket_path("missing");
        let error = send(&missing, &[], b"", PATIENCE).unwrap_err();
        assert!(
            matches!(&error, FastCgiError::Connect(e) if e.kind() == io::ErrorKind::NotFound),
            "{error:?}"
        );

        let abandoned = socket_path("abandoned");
        drop(UnixListener::bind(&abandoned).unwrap());
        let error = send(&abandoned, &[], b"", PATIENCE).unwrap_err();
        assert!(
            matches!(&error, FastCgiError::Connect(e) if e.kind() == io::ErrorKind::ConnectionRefused),
            "{error:?}"
        );
    }

    #[test]
    fn a_full_listen_queue_times_out_while_connecting() {
        let path = socket_path("queue");
        let listener = rustix::net::socket(AddressFamily::UNIX, SocketType::STREAM, None).unwrap();
        rustix::net::bind(&listener, &SocketAddrUnix::new(&path).unwrap()).unwrap();
        rustix::net::listen(&listener, 0).unwrap();
        let _queued = UnixStream::connect(&path).unwrap();
        let started = Instant::now();
        let error = send(&path, &[], b"", Duration::from_millis(100)).unwrap_err();
        assert!(
            matches!(
                error,
                FastCgiError::Timeout {
                    stage: Stage::Connecting
                }
            ),
            "{error:?}"
        );
        assert!(started.elapsed() >= Duration::from_millis(95));
    }

    #[test]
    fn a_deadline_already_past_connects_to_nothing() {
        let path = socket_path("late");
        let listener = UnixListener::bind(&path).unwrap();
        let error = send(&path, &[], b"", Duration::ZERO).unwrap_err();
        assert!(
            matches!(
                error,
                FastCgiError::Timeout {
                    stage: Stage::Connecting
                }
            ),
            "{error:?}"
        );
        listener.set_nonblocking(true).unwrap();
        let accepted = listener.accept().map(|_| ()).map_err(|e| e.kind());
        assert_eq!(accepted, Err(io::ErrorKind::WouldBlock));
    }

    /// A server that accepts and then does nothing until told to let go.
    fn idle_server(name: &str, reads_request: usize) -> (PathBuf, mpsc::Sender<()>) {
        let (release, released) = mpsc::channel::<()>();
        let (path, _server) = serve(name, move |mut stream| {
            let mut request = vec![0; reads_request];
            stream.read_exact(&mut request).unwrap();
            let _ = released.recv();
        });
        (path, release)
    }

    #[test]
    fn a_server_that_does_not_read_the_body_times_out_while_sending() {
        let (path, _release) = idle_server("unread", 0);
        let body = vec![b'x'; 6 << 20];
        let error = send(&path, &[], &body, Duration::from_millis(200)).unwrap_err();
        assert!(
            matches!(
                error,
                FastCgiError::Timeout {
                    stage: Stage::Sending
                }
            ),
            "{error:?}"
        );
    }

    #[test]
    fn a_server_that_does_not_answer_times_out_while_receiving() {
        let (path, _release) = idle_server("silent", BEGIN.len() + 16);
        let started = Instant::now();
        let error = send(&path, &[], b"", Duration::from_millis(200)).unwrap_err();
        assert!(
            matches!(
                error,
                FastCgiError::Timeout {
                    stage: Stage::Receiving
                }
            ),
            "{error:?}"
        );
        assert!(started.elapsed() >= Duration::from_millis(195));
        assert_eq!(
            error.to_string(),
            "php-fpm did not finish its response in time"
        );
    }

    #[test]
    fn an_answer_written_before_the_body_is_read_does_not_deadlock() {
        const BODY_LEN: usize = 6 << 20;
        const OUTPUT_RECORDS: usize = 16;
        let (path, server) = serve("interleaved", |mut stream| {
            // BEGIN_REQUEST and the empty PARAMS only: the body is left in the socket.
            let mut head = [0; BEGIN.len() + 8];
            stream.read_exact(&mut head).unwrap();
            // 16 records of 65,535 bytes: more than the socket's buffers hold.
            let mut record = vec![b'o'; HEADER_LEN + 65_535];
            record[..HEADER_LEN].copy_from_slice(&[1, 6, 0, 1, 0xff, 0xff, 0, 0]);
            for _ in 0..OUTPUT_RECORDS {
                stream.write_all(&record).unwrap();
            }
            // Then the body: 97 records (96 full, one of 6 MiB - 96 * 65,535 = 96 bytes),
            // and the terminator.
            let mut rest = vec![0; BODY_LEN + 97 * HEADER_LEN + STDIN_END.len()];
            stream.read_exact(&mut rest).unwrap();
            assert_eq!(rest[..HEADER_LEN], [1, 5, 0, 1, 0xff, 0xff, 0, 0]);
            assert_eq!(rest[rest.len() - 8..], STDIN_END);
            let last_header = rest.len() - 8 - 96 - HEADER_LEN;
            assert_eq!(
                rest[last_header..last_header + HEADER_LEN],
                [1, 5, 0, 1, 0, 0x60, 0, 0]
            );
            stream.write_all(&END_REQUEST_COMPLETE).unwrap();
        });
        let body = vec![b'b'; BODY_LEN];
        let (response, _) = send(&path, &[], &body, PATIENCE).unwrap();
        server.join().unwrap();
        assert_eq!(response.stdout_total, OUTPUT_RECORDS * 65_535);
        assert!(response.stdout.iter().all(|&byte| byte == b'o'));
    }
}
