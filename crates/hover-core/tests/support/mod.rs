//! A scripted stand-in for the Lambda Runtime API, shared by the test binaries that need a
//! process of their own (signal handlers, thread counts). Each test drives the connection
//! itself, so that it can pace every byte.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read};
use std::net::TcpStream;

/// A request as the server read it.
#[derive(Debug)]
pub struct Seen {
    pub request_line: String,
    pub headers: Vec<(String, String)>,
    pub body: Vec<u8>,
}

/// Reads one request's line and headers; the body is left to the caller (`body_length`).
pub fn read_head(reader: &mut BufReader<TcpStream>) -> Option<Seen> {
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).ok()? == 0 {
        return None;
    }
    let mut headers = Vec::new();
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).ok()?;
        let line = line.trim_end();
        if line.is_empty() {
            break;
        }
        let (name, value) = line.split_once(':')?;
        headers.push((name.trim().to_owned(), value.trim().to_owned()));
    }
    Some(Seen {
        request_line: request_line.trim_end().to_owned(),
        headers,
        body: Vec::new(),
    })
}

impl Seen {
    pub fn body_length(&self) -> usize {
        self.headers
            .iter()
            .find(|(name, _)| name.eq_ignore_ascii_case("content-length"))
            .map_or(0, |(_, value)| value.parse().unwrap())
    }
}

/// Reads one whole request.
pub fn read_request(reader: &mut BufReader<TcpStream>) -> Option<Seen> {
    let mut seen = read_head(reader)?;
    let mut body = vec![0; seen.body_length()];
    reader.read_exact(&mut body).ok()?;
    seen.body = body;
    Some(seen)
}

/// The head of a `/next` answer for `request_id`, announcing a body of `length` bytes.
pub fn invocation_head(request_id: &str, length: usize) -> String {
    format!(
        "HTTP/1.1 200 OK\r\nContent-Length: {length}\r\nLambda-Runtime-Aws-Request-Id: {request_id}\r\nLambda-Runtime-Deadline-Ms: 4102444800000\r\nLambda-Runtime-Invoked-Function-Arn: arn:aws:lambda:eu-west-1:1:function:app-cli\r\n\r\n"
    )
}
