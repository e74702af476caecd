//! `CapturedOutput`: a command's output, kept up to what a Lambda response can carry, and
//! handed out line by line for the log as it comes.
//!
//! A synchronous Lambda response is at most 6 MB, and the output travels base64-encoded, so
//! no more than that is ever useful. Past the limit bytes are counted, not kept: a command
//! that floods its output cannot exhaust the function's memory.

/// Bytes kept at most: Lambda's response limit.
pub const LIMIT: usize = 6 * 1024 * 1024;

#[derive(Debug, Default)]
pub struct CapturedOutput {
    kept: Vec<u8>,
    dropped: usize,
    /// End of the last complete line in `kept`.
    lines_end: usize,
    /// End of what has been handed out for the log.
    logged: usize,
}

impl CapturedOutput {
    pub fn push(&mut self, bytes: &[u8]) {
        let room = LIMIT.saturating_sub(self.kept.len());
        let (kept, dropped) = bytes.split_at(room.min(bytes.len()));
        if let Some(newline) = kept.iter().rposition(|byte| *byte == b'\n') {
            self.lines_end = self.kept.len() + newline + 1;
        }
        self.kept.extend_from_slice(kept);
        self.dropped += dropped.len();
    }

    /// The complete lines not yet handed out for the log, or with `finished` all that is
    /// left; either way they count as logged from then on.
    pub fn take_unlogged(&mut self, finished: bool) -> &[u8] {
        let start = self.logged;
        self.logged = if finished {
            self.kept.len()
        } else {
            self.lines_end.max(start)
        };
        &self.kept[start..self.logged]
    }

    /// The bytes kept, the first [`LIMIT`] of the output.
    pub fn kept(&self) -> &[u8] {
        &self.kept
    }

    /// Whether bytes were dropped: the output cannot be returned whole.
    pub fn overflowed(&self) -> bool {
        self.dropped > 0
    }

    /// Every byte written, kept or not.
    pub fn total_len(&self) -> usize {
        self.kept.len() + self.dropped
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_everything_up_to_the_limit() {
        let mut output = CapturedOutput::default();
        output.push(b"one\n");
        output.push(b"two\n");
        assert_eq!(output.kept(), b"one\ntwo\n");
        assert!(!output.overflowed());
        assert_eq!(output.total_len(), 8);
    }

    #[test]
    fn hands_out_complete_lines_once_then_the_rest() {
        let mut output = CapturedOutput::default();
        output.push(b"one\ntw");
        assert_eq!(output.take_unlogged(false), b"one\n");
        assert_eq!(output.take_unlogged(false), b"");
        output.push(b"o\nthree\nfo");
        assert_eq!(output.take_unlogged(false), b"two\nthree\n");
        output.push(b"ur");
        assert_eq!(output.take_unlogged(false), b"");
        assert_eq!(output.take_unlogged(true), b"four");
        assert_eq!(output.take_unlogged(true), b"");
        assert_eq!(
            output.kept(),
            b"one\ntwo\nthree\nfour",
            "logging takes nothing from the response"
        );
    }

    #[test]
    fn counts_but_does_not_keep_what_is_past_the_limit() {
        let mut output = CapturedOutput::default();
        output.push(&vec![b'a'; LIMIT - 2]);
        output.push(b"bcde");
        output.push(b"fgh");
        assert_eq!(output.kept().len(), LIMIT);
        assert!(output.kept().ends_with(b"abc"));
        assert!(output.overflowed());
        assert_eq!(output.total_len(), LIMIT + 5);
    }
}
