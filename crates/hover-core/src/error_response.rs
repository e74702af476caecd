//! `ErrorResponse`: the body Lambda expects on `/error` and `/init/error`, and the error
//! types this runtime reports in it.

use serde::Serialize;

/// The errors the runtime reports for an invocation or a failed boot, each with its type
/// in AWS's `Category.Reason` form. (Init's own failures are `init::InitErrorKind`.)
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorType {
    /// The event is not what the function type takes.
    InvalidEvent,
    /// php-fpm's output is not a CGI response (no blank line after the headers, a
    /// malformed header line or status).
    InvalidResponse,
    /// The Runtime API sent an invocation without a usable deadline.
    InvalidInvocation,
    /// A command was still running at its stop point.
    CommandTimeout,
    /// A command could not be run (no fork, or lost track of its process).
    CommandFailed,
    /// An HTTP request was still running at its stop point.
    RequestTimeout,
    /// php-fpm failed a request: it could not be reached, broke the protocol, or its worker
    /// died mid-request.
    PhpFpmFailed,
    /// The runtime's own PHP ended in the middle of an invocation.
    RuntimeExited,
    /// Lambda refused the response as too large.
    ResponseTooLarge,
    /// A bug in the runtime, caught at the PHP boundary.
    InternalError,
    /// PHP exited while the application booted.
    InitExited,
    /// PHP stopped with a fatal error while the application booted.
    InitFatalError,
}

impl ErrorType {
    pub fn code(self) -> &'static str {
        match self {
            Self::InvalidEvent => "Hover.InvalidEvent",
            Self::InvalidResponse => "Hover.InvalidResponse",
            Self::InvalidInvocation => "Hover.InvalidInvocation",
            Self::CommandTimeout => "Hover.CommandTimeout",
            Self::CommandFailed => "Hover.CommandFailed",
            Self::RequestTimeout => "Hover.RequestTimeout",
            Self::PhpFpmFailed => "Hover.PhpFpmFailed",
            Self::RuntimeExited => "Hover.RuntimeExited",
            Self::ResponseTooLarge => "Hover.ResponseTooLarge",
            Self::InternalError => "Hover.InternalError",
            Self::InitExited => "Hover.InitExited",
            Self::InitFatalError => "Hover.InitFatalError",
        }
    }
}

/// An error as the Runtime API takes it. `error_type` also goes in the
/// `Lambda-Runtime-Function-Error-Type` header, in AWS's `Category.Reason` form.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorResponse {
    #[serde(rename = "errorMessage")]
    pub error_message: String,
    #[serde(rename = "errorType")]
    pub error_type: String,
    #[serde(rename = "stackTrace")]
    pub stack_trace: Vec<String>,
}

impl ErrorResponse {
    pub fn new(error_type: ErrorType, error_message: impl Into<String>) -> Self {
        Self::named(error_type.code(), error_message)
    }

    /// An error whose type comes from elsewhere: init's kinds, the PHP bootstrap.
    pub fn named(error_type: impl Into<String>, error_message: impl Into<String>) -> Self {
        Self {
            error_message: error_message.into(),
            error_type: error_type.into(),
            stack_trace: Vec::new(),
        }
    }

    pub fn with_stack_trace(mut self, stack_trace: Vec<String>) -> Self {
        self.stack_trace = stack_trace;
        self
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a struct of strings always serializes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serializes_with_lambdas_field_names() {
        let body = ErrorResponse::new(ErrorType::InvalidEvent, "bad \"event\"")
            .with_stack_trace(vec!["#0 main".into()])
            .to_json();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"errorMessage": "bad \"event\"", "errorType": "Hover.InvalidEvent", "stackTrace": ["#0 main"]})
        );
    }
}
