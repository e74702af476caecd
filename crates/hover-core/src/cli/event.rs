//! The CLI function's event and response formats, as Hover's tooling sends and reads them.
//!
//! Event: `{"command": "migrate --force"}` (from `hover command run` and EventBridge rules).
//! Response: `{"exit_code": 0, "output": "<base64 of the command's output>"}`.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde_json::Value;

use crate::error_response::{ErrorResponse, ErrorType};

/// The longest command line accepted. Symfony's `StringInput` takes time quadratic in the
/// length of a token (here: 75 ms for a 4 KB token, 0.3 s for 8 KB, 28 s for 128 KB), so a
/// longer line is refused before it is parsed.
pub const MAX_COMMAND_LINE: usize = 8 * 1024;
/// How much of a command line log records and messages quote.
const QUOTED_LINE: usize = 200;

/// Reads the artisan command line out of a CLI event.
pub fn parse_event(payload: &[u8]) -> Result<String, ErrorResponse> {
    let invalid = |message: String| ErrorResponse::new(ErrorType::InvalidEvent, message);
    let event: Value = serde_json::from_slice(payload)
        .map_err(|error| invalid(format!("the event is not valid JSON ({error}); a CLI function expects {{\"command\": \"<artisan command>\"}}")))?;
    let Value::Object(event) = event else {
        return Err(invalid(format!(
            "the event is {}, not an object; a CLI function expects {{\"command\": \"<artisan command>\"}}",
            kind_of(&event)
        )));
    };
    match event.get("command") {
        Some(Value::String(command)) if command.len() > MAX_COMMAND_LINE => Err(invalid(format!(
            "the command line is {} bytes long; at most {MAX_COMMAND_LINE} are accepted: {}",
            command.len(),
            quoted(command)
        ))),
        Some(Value::String(command)) => Ok(command.clone()),
        Some(other) => Err(invalid(format!("\"command\" is {}; it must be a string such as \"migrate --force\"", kind_of(other)))),
        None => Err(invalid("the event has no \"command\"; a CLI function expects {\"command\": \"<artisan command>\"}".into())),
    }
}

fn kind_of(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A command line as log records and messages quote it: in backquotes, cut after
/// [`QUOTED_LINE`] characters.
pub fn quoted(line: &str) -> String {
    match line.char_indices().nth(QUOTED_LINE) {
        None => format!("`{line}`"),
        Some((end, _)) => format!("`{}…` ({} bytes)", &line[..end], line.len()),
    }
}

#[derive(Serialize)]
struct Response<'a> {
    exit_code: i64,
    output: &'a str,
}

/// The response body for a finished command.
pub fn response(exit_code: i64, output: &[u8]) -> Vec<u8> {
    let output = STANDARD.encode(output);
    serde_json::to_vec(&Response {
        exit_code,
        output: &output,
    })
    .expect("a struct of an integer and a string always serializes")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_command() {
        assert_eq!(
            parse_event(br#"{"command": "migrate --force"}"#),
            Ok("migrate --force".into())
        );
        assert_eq!(
            parse_event(br#"{"command": "", "extra": 1}"#),
            Ok(String::new())
        );
    }

    #[test]
    fn malformed_events_are_explained() {
        let cases: [(&[u8], &str); 5] = [
            (b"not json", "the event is not valid JSON"),
            (br#""migrate""#, "the event is a string, not an object"),
            (br#"["migrate"]"#, "the event is an array, not an object"),
            (br#"{"cmd": "migrate"}"#, "the event has no \"command\""),
            (
                br#"{"command": ["migrate"]}"#,
                "\"command\" is an array; it must be a string",
            ),
        ];
        for (payload, expected) in cases {
            let error = parse_event(payload).unwrap_err();
            assert_eq!(error.error_type, ErrorType::InvalidEvent.code());
            assert!(
                error.error_message.starts_with(expected),
                "{}: {}",
                String::from_utf8_lossy(payload),
                error.error_message
            );
        }
    }

    #[test]
    fn the_response_has_hovers_shape() {
        let body = response(3, b"line one\nline \xff two\n");
        let value: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(value["exit_code"], 3);
        let decoded = STANDARD.decode(value["output"].as_str().unwrap()).unwrap();
        assert_eq!(decoded, b"line one\nline \xff two\n");
        assert!(
            String::from_utf8(body)
                .unwrap()
                .starts_with("{\"exit_code\":3,\"output\":\"")
        );
    }

    #[test]
    fn a_command_line_past_the_limit_is_refused_before_it_is_parsed() {
        let longest = format!("{{\"command\": \"{}\"}}", "a".repeat(MAX_COMMAND_LINE));
        assert_eq!(
            parse_event(longest.as_bytes()).unwrap().len(),
            MAX_COMMAND_LINE
        );
        let line = format!("hover:greet {}", "é".repeat(MAX_COMMAND_LINE));
        let event = serde_json::to_vec(&serde_json::json!({ "command": line })).unwrap();
        let error = parse_event(&event).unwrap_err();
        assert_eq!(error.error_type, ErrorType::InvalidEvent.code());
        assert!(
            error.error_message.starts_with(&format!(
                "the command line is {} bytes long; at most 8192 are accepted: `hover:greet éé",
                line.len()
            )),
            "{}",
            error.error_message
        );
        assert!(
            error.error_message.len() < 600,
            "the line is quoted, not copied"
        );
    }

    #[test]
    fn quoting_cuts_long_lines_on_a_character_boundary() {
        assert_eq!(quoted("migrate --force"), "`migrate --force`");
        let long = "é".repeat(300);
        assert_eq!(
            quoted(&long),
            format!("`{}…` (600 bytes)", "é".repeat(QUOTED_LINE))
        );
    }
}
