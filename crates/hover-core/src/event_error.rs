//! How the errors about an event quote it: the event is untrusted input, so what an error
//! says of it is cut short, whatever the function type.

use std::borrow::Cow;

use serde::de::IgnoredAny;

use crate::error_response::{ErrorResponse, ErrorType};

/// How much of an untrusted string (a name, a field, a parser's message) an error quotes.
pub const QUOTED_LENGTH: usize = 200;
/// How many of an event's fields an error names.
const LISTED_FIELDS: usize = 10;

/// An untrusted string as errors quote it: cut after [`QUOTED_LENGTH`] characters.
pub fn capped(text: &str) -> Cow<'_, str> {
    match text.char_indices().nth(QUOTED_LENGTH) {
        None => Cow::Borrowed(text),
        Some((end, _)) => Cow::Owned(format!("{}… ({} bytes)", &text[..end], text.len())),
    }
}

/// The error for an event that is not a JSON object: invalid JSON, or what kind of value
/// it is instead; `expected` says what objects the function type takes.
pub fn not_an_object(payload: &[u8], expected: &str) -> ErrorResponse {
    if let Err(error) = serde_json::from_slice::<IgnoredAny>(payload) {
        return invalid(format!(
            "the event is not valid JSON ({})",
            capped(&error.to_string())
        ));
    }
    let kind = match payload.trim_ascii_start().first() {
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    };
    invalid(format!(
        "the event is {kind}, not an object such as {expected}"
    ))
}

/// An event's fields as an error names them: a few, each cut short, which tells one kind
/// of event from another at a glance.
pub fn listed_fields<'a>(names: impl ExactSizeIterator<Item = &'a str>) -> String {
    let count = names.len();
    let mut listed: Vec<String> = names
        .take(LISTED_FIELDS)
        .map(|name| format!("`{}`", capped(name)))
        .collect();
    if count > LISTED_FIELDS {
        listed.push(format!("and {} more", count - LISTED_FIELDS));
    }
    if listed.is_empty() {
        "no fields".to_owned()
    } else {
        format!("the fields {}", listed.join(", "))
    }
}

fn invalid(message: String) -> ErrorResponse {
    ErrorResponse::new(ErrorType::InvalidEvent, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_strings_are_cut_and_their_size_said() {
        assert_eq!(capped("short"), "short");
        let long = "é".repeat(250);
        assert_eq!(capped(&long), format!("{}… (500 bytes)", "é".repeat(200)));
    }

    #[test]
    fn a_value_that_is_not_an_object_is_named() {
        let error = not_an_object(b" [1, 2]", "SQS events are");
        assert_eq!(error.error_type, "Hover.InvalidEvent");
        assert_eq!(
            error.error_message,
            "the event is an array, not an object such as SQS events are"
        );
        assert_eq!(
            not_an_object(b"null", "x").error_message,
            "the event is null, not an object such as x"
        );
        assert!(
            not_an_object(b"{nope", "x")
                .error_message
                .starts_with("the event is not valid JSON (")
        );
    }

    #[test]
    fn ten_fields_are_named_and_the_rest_counted() {
        assert_eq!(listed_fields(std::iter::empty()), "no fields");
        assert_eq!(listed_fields(["a", "b"].into_iter()), "the fields `a`, `b`");
        let names: Vec<String> = (0..12).map(|n| format!("f{n}")).collect();
        assert_eq!(
            listed_fields(names.iter().map(String::as_str)),
            "the fields `f0`, `f1`, `f2`, `f3`, `f4`, `f5`, `f6`, `f7`, `f8`, `f9`, and 2 more"
        );
    }
}
