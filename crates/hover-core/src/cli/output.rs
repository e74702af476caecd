//! A command's output: kept up to what a Lambda response can carry, and cut into lines
//! for the log as it comes.
//!
//! The response carries the output base64-encoded inside 6 MB, so at most
//! [`MAX_OUTPUT`] bytes fit, and an output up to that size is returned whole. Past it, the
//! first part and the last [`TAIL`] bytes are kept (the end of an output is where a failure shows) with a note between them saying
//! how much was left out; the log has every line. Bytes in between are counted, not kept,
//! so a command that floods its output cannot exhaust the function's memory.

use std::collections::VecDeque;

/// Lambda's limit for a synchronous response.
pub const RESPONSE_LIMIT: usize = 6 * 1024 * 1024;
/// The most output a response carries: base64 makes 4 bytes of 3, and the JSON around
/// it (`{"exit_code":255,"output":""}`) takes less than 64.
pub const MAX_OUTPUT: usize = (RESPONSE_LIMIT - 64) / 4 * 3;
/// How much of the end of an output too large to carry is kept.
pub const TAIL: usize = 256 * 1024;
/// Room kept for the note that says what was left out.
const NOTE_ROOM: usize = 512;
const HEAD: usize = MAX_OUTPUT - TAIL - NOTE_ROOM;
/// A log record carries at most this much of a line without a newline; CloudWatch takes
/// events of up to 256 KB.
pub const MAX_LOG_LINE: usize = 64 * 1024;

/// The end of the output kept: enough to return an output of [`MAX_OUTPUT`] bytes whole
/// (with the beginning), of which the last [`TAIL`] bytes are kept when it is longer.
const KEPT_END: usize = MAX_OUTPUT - HEAD;

#[derive(Debug, Default)]
pub struct CommandOutput {
    head: Vec<u8>,
    end: VecDeque<u8>,
    total: usize,
}

impl CommandOutput {
    pub fn push(&mut self, mut bytes: &[u8]) {
        self.total += bytes.len();
        let room = HEAD - self.head.len();
        if room > 0 {
            let (head, rest) = bytes.split_at(room.min(bytes.len()));
            self.head.extend_from_slice(head);
            bytes = rest;
        }
        if bytes.len() >= KEPT_END {
            self.end.clear();
            self.end.extend(&bytes[bytes.len() - KEPT_END..]);
        } else {
            let overflow = (self.end.len() + bytes.len()).saturating_sub(KEPT_END);
            self.end.drain(..overflow);
            self.end.extend(bytes);
        }
    }

    /// Every byte written, kept or not.
    pub fn total_len(&self) -> usize {
        self.total
    }

    /// Whether the output is too large for a response, so that part of it is left out.
    pub fn truncated(&self) -> bool {
        self.total > MAX_OUTPUT
    }

    /// The last `limit` bytes written (at most what was kept), for a message.
    pub fn last(&self, limit: usize) -> Vec<u8> {
        let from_end = self.end.len().min(limit);
        let from_head = (limit - from_end).min(self.head.len());
        let mut last = self.head[self.head.len() - from_head..].to_vec();
        last.extend(self.end.range(self.end.len() - from_end..));
        last
    }

    /// The output the response carries: all of it, or its beginning and its last [`TAIL`]
    /// bytes with a note between them.
    pub fn into_response_bytes(self) -> Vec<u8> {
        let truncated = self.truncated();
        let Self {
            mut head,
            mut end,
            total,
        } = self;
        if truncated {
            end.drain(..end.len() - TAIL);
            let left_out = total - head.len() - end.len();
            head.extend_from_slice(
                format!(
                    "\n[hover: {left_out} bytes of output left out here; a Lambda response carries at most {MAX_OUTPUT} bytes of output; the whole output is in the function's log]\n"
                )
                .as_bytes(),
            );
        }
        head.extend(end);
        head
    }
}

/// Cuts a stream of output into lines for the log.
#[derive(Debug, Default)]
pub struct OutputLines {
    partial: Vec<u8>,
}

impl OutputLines {
    /// Hands each complete line of `bytes` (without its newline) to `emit`; a line longer
    /// than [`MAX_LOG_LINE`] is handed out in pieces of that size.
    pub fn feed(&mut self, mut bytes: &[u8], mut emit: impl FnMut(&[u8])) {
        while let Some(newline) = bytes.iter().position(|byte| *byte == b'\n') {
            let (line, rest) = (&bytes[..newline], &bytes[newline + 1..]);
            if self.partial.is_empty() {
                emit_in_pieces(line, &mut emit);
            } else {
                self.partial.extend_from_slice(line);
                emit_in_pieces(&self.partial, &mut emit);
                self.partial.clear();
            }
            bytes = rest;
        }
        self.partial.extend_from_slice(bytes);
        if self.partial.len() >= MAX_LOG_LINE {
            let whole = self.partial.len() / MAX_LOG_LINE * MAX_LOG_LINE;
            emit_in_pieces(&self.partial[..whole], &mut emit);
            self.partial.drain(..whole);
        }
    }

    /// Whether a partial line is held.
    pub fn is_empty(&self) -> bool {
        self.partial.is_empty()
    }

    /// Hands out what is left, a last line without a newline.
    pub fn finish(&mut self, mut emit: impl FnMut(&[u8])) {
        if !self.partial.is_empty() {
            emit_in_pieces(&self.partial, &mut emit);
            self.partial.clear();
        }
    }
}

fn emit_in_pieces(line: &[u8], emit: &mut impl FnMut(&[u8])) {
    if line.is_empty() {
        return emit(line);
    }
    for piece in line.chunks(MAX_LOG_LINE) {
        emit(piece);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::response;

    #[test]
    fn an_output_that_fits_is_kept_whole() {
        let mut output = CommandOutput::default();
        output.push(b"one\n");
        output.push(b"two\n");
        assert!(!output.truncated());
        assert_eq!(output.total_len(), 8);
        assert_eq!(output.into_response_bytes(), b"one\ntwo\n");
    }

    #[test]
    fn the_largest_whole_output_fits_a_lambda_response() {
        let mut output = CommandOutput::default();
        output.push(&vec![b'x'; MAX_OUTPUT - 1]);
        output.push(b"y");
        assert!(!output.truncated());
        let kept = output.into_response_bytes();
        assert_eq!(kept.len(), MAX_OUTPUT);
        assert!(kept.ends_with(b"xy"));
        let body = response(255, &kept);
        assert!(body.len() <= RESPONSE_LIMIT, "{} bytes", body.len());
    }

    #[test]
    fn one_byte_past_the_limit_is_cut_and_still_fits() {
        let mut output = CommandOutput::default();
        output.push(&vec![b'x'; MAX_OUTPUT]);
        output.push(b"!");
        assert!(output.truncated());
        let kept = output.into_response_bytes();
        assert!(kept.len() <= MAX_OUTPUT, "{}", kept.len());
        assert!(kept.ends_with(b"x!"));
        assert!(response(255, &kept).len() <= RESPONSE_LIMIT);
    }

    #[test]
    fn a_flood_keeps_its_beginning_and_end_and_says_what_was_left_out() {
        let mut output = CommandOutput::default();
        output.push(b"BEGIN\n");
        for _ in 0..20 {
            output.push(&vec![b'.'; 1024 * 1024]);
        }
        output.push(b"\nEND: the error is here\n");
        assert!(output.truncated());
        let total = output.total_len();
        assert_eq!(total, 6 + 20 * 1024 * 1024 + 24);
        let kept = output.into_response_bytes();
        assert!(kept.starts_with(b"BEGIN\n"));
        assert!(kept.ends_with(b"\nEND: the error is here\n"));
        let note = format!(
            "[hover: {} bytes of output left out here",
            total - HEAD - TAIL
        );
        let text = String::from_utf8_lossy(&kept);
        assert!(text.contains(&note), "{}", &text[HEAD - 10..HEAD + 300]);
        assert!(kept.len() <= MAX_OUTPUT);
        assert!(response(1, &kept).len() <= RESPONSE_LIMIT);
    }

    #[test]
    fn the_tail_follows_many_small_writes() {
        let mut output = CommandOutput::default();
        for index in 0..((HEAD + TAIL) / 10 + 1000) {
            output.push(format!("{:09}\n", index % 1_000_000_000).as_bytes());
        }
        assert!(output.truncated());
        let last = output.last(20);
        assert_eq!(last.len(), 20);
        let kept = output.into_response_bytes();
        assert!(kept.ends_with(&last));
    }

    #[test]
    fn lines_are_handed_out_as_they_complete() {
        let mut lines = OutputLines::default();
        let mut seen: Vec<Vec<u8>> = Vec::new();
        lines.feed(b"one\ntw", |line| seen.push(line.to_vec()));
        assert_eq!(seen, [b"one".to_vec()]);
        lines.feed(b"o\n\nthree\nfo", |line| seen.push(line.to_vec()));
        lines.feed(b"ur", |line| seen.push(line.to_vec()));
        lines.finish(|line| seen.push(line.to_vec()));
        let expected: [&[u8]; 5] = [b"one", b"two", b"", b"three", b"four"];
        assert_eq!(seen, expected);
    }

    #[test]
    fn a_line_without_end_is_logged_in_pieces() {
        let mut lines = OutputLines::default();
        let mut seen = Vec::new();
        lines.feed(&vec![b'a'; MAX_LOG_LINE * 2 + 10], |line| {
            seen.push(line.len())
        });
        assert_eq!(seen, [MAX_LOG_LINE, MAX_LOG_LINE]);
        lines.feed(b"b\n", |line| seen.push(line.len()));
        assert_eq!(seen, [MAX_LOG_LINE, MAX_LOG_LINE, 11]);
    }
}
