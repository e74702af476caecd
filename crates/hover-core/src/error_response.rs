//! `ErrorResponse`: the body Lambda expects on `/error` and `/init/error`.

use serde::Serialize;

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
    pub fn new(error_type: impl Into<String>, error_message: impl Into<String>) -> Self {
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
        let body = ErrorResponse::new("Hover.InvalidEvent", "bad \"event\"")
            .with_stack_trace(vec!["#0 main".into()])
            .to_json();
        let value: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            value,
            serde_json::json!({"errorMessage": "bad \"event\"", "errorType": "Hover.InvalidEvent", "stackTrace": ["#0 main"]})
        );
    }
}
