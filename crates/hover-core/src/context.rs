//! `Context`: what Lambda says about one invocation, read from the headers of `/next`.

use std::time::{SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use ureq::http::HeaderMap;

/// The invocation's identity and limits, as the Runtime API sent them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Context {
    /// `Lambda-Runtime-Aws-Request-Id`: the id every answer is posted under.
    pub request_id: String,
    /// `Lambda-Runtime-Deadline-Ms`: when Lambda stops the function, in ms since the epoch.
    pub deadline_ms: u64,
    /// `Lambda-Runtime-Invoked-Function-Arn`.
    pub invoked_function_arn: String,
    /// `Lambda-Runtime-Trace-Id`, exported as `_X_AMZN_TRACE_ID` for the X-Ray SDKs.
    pub trace_id: Option<String>,
    /// `Lambda-Runtime-Client-Context`: JSON sent by mobile SDK callers.
    pub client_context: Option<String>,
    /// `Lambda-Runtime-Cognito-Identity`: JSON sent by mobile SDK callers.
    pub cognito_identity: Option<String>,
}

/// Why the headers of `/next` do not describe an invocation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ContextError {
    /// No request id (or one that is not UTF-8): the invocation cannot even be answered.
    MissingRequestId,
    /// A request id, but a deadline that is absent or not a number.
    BadDeadline { request_id: String },
}

impl Context {
    /// Reads the invocation headers. Header names are case-insensitive, as in HTTP.
    pub fn from_headers(headers: &HeaderMap) -> Result<Self, ContextError> {
        let text = |name: &str| {
            headers
                .get(name)
                .and_then(|value| value.to_str().ok())
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        // Any UTF-8, not only the visible ASCII `to_str` allows: the id is escaped before
        // it goes into a URL, so whatever Lambda sends can be answered.
        let request_id = headers
            .get("lambda-runtime-aws-request-id")
            .and_then(|value| std::str::from_utf8(value.as_bytes()).ok())
            .filter(|value| !value.is_empty())
            .map(str::to_owned)
            .ok_or(ContextError::MissingRequestId)?;
        let Some(deadline_ms) = text("lambda-runtime-deadline-ms").and_then(|ms| ms.parse().ok())
        else {
            return Err(ContextError::BadDeadline { request_id });
        };
        Ok(Self {
            request_id,
            deadline_ms,
            invoked_function_arn: text("lambda-runtime-invoked-function-arn").unwrap_or_default(),
            trace_id: text("lambda-runtime-trace-id"),
            client_context: text("lambda-runtime-client-context"),
            cognito_identity: text("lambda-runtime-cognito-identity"),
        })
    }

    /// Milliseconds left before the deadline, zero once it has passed.
    pub fn remaining_time_ms(&self) -> u64 {
        self.deadline_ms.saturating_sub(now_ms())
    }
}

/// The wall clock in milliseconds since the epoch, the unit of Lambda's deadlines.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ureq::http::HeaderValue;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_str(value).unwrap());
        }
        map
    }

    #[test]
    fn reads_every_invocation_header() {
        let context = Context::from_headers(&headers(&[
            (
                "Lambda-Runtime-Aws-Request-Id",
                "8476a536-e9f4-11e8-9739-2dfe598c3fcd",
            ),
            ("Lambda-Runtime-Deadline-Ms", "1542409706888"),
            (
                "Lambda-Runtime-Invoked-Function-Arn",
                "arn:aws:lambda:us-east-2:123456789012:function:app-cli",
            ),
            (
                "Lambda-Runtime-Trace-Id",
                "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1",
            ),
            (
                "Lambda-Runtime-Client-Context",
                r#"{"client":{"app_title":"x"}}"#,
            ),
            (
                "Lambda-Runtime-Cognito-Identity",
                r#"{"cognitoIdentityId":"id"}"#,
            ),
        ]))
        .unwrap();
        assert_eq!(context.request_id, "8476a536-e9f4-11e8-9739-2dfe598c3fcd");
        assert_eq!(context.deadline_ms, 1_542_409_706_888);
        assert_eq!(
            context.invoked_function_arn,
            "arn:aws:lambda:us-east-2:123456789012:function:app-cli"
        );
        assert_eq!(
            context.trace_id.as_deref(),
            Some("Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700;Parent=9a9197af755a6419;Sampled=1")
        );
        assert_eq!(
            context.client_context.as_deref(),
            Some(r#"{"client":{"app_title":"x"}}"#)
        );
        assert_eq!(
            context.cognito_identity.as_deref(),
            Some(r#"{"cognitoIdentityId":"id"}"#)
        );
    }

    #[test]
    fn optional_headers_may_be_absent() {
        let context = Context::from_headers(&headers(&[
            ("lambda-runtime-aws-request-id", "abc"),
            ("lambda-runtime-deadline-ms", "5"),
        ]))
        .unwrap();
        assert_eq!(context.trace_id, None);
        assert_eq!(context.client_context, None);
        assert_eq!(context.cognito_identity, None);
        assert_eq!(
            context.remaining_time_ms(),
            0,
            "a deadline in the past leaves no time"
        );
    }

    #[test]
    fn a_missing_request_id_or_deadline_is_an_error() {
        assert_eq!(
            Context::from_headers(&headers(&[("lambda-runtime-deadline-ms", "5")])),
            Err(ContextError::MissingRequestId)
        );
        assert_eq!(
            Context::from_headers(&headers(&[
                ("lambda-runtime-aws-request-id", "abc"),
                ("lambda-runtime-deadline-ms", "soon"),
            ])),
            Err(ContextError::BadDeadline {
                request_id: "abc".into()
            })
        );
    }

    #[test]
    fn a_request_id_may_be_any_utf8_but_nothing_else() {
        let mut map = headers(&[("lambda-runtime-deadline-ms", "5")]);
        map.insert(
            "lambda-runtime-aws-request-id",
            HeaderValue::from_bytes("id é/1".as_bytes()).unwrap(),
        );
        assert_eq!(Context::from_headers(&map).unwrap().request_id, "id é/1");
        map.insert(
            "lambda-runtime-aws-request-id",
            HeaderValue::from_bytes(b"id \xe9").unwrap(),
        );
        assert_eq!(
            Context::from_headers(&map),
            Err(ContextError::MissingRequestId)
        );
    }

    #[test]
    fn remaining_time_counts_down_to_the_deadline() {
        let context = Context::from_headers(&headers(&[
            ("lambda-runtime-aws-request-id", "abc"),
            (
                "lambda-runtime-deadline-ms",
                &(now_ms() + 10_000).to_string(),
            ),
        ]))
        .unwrap();
        let remaining = context.remaining_time_ms();
        assert!((9_000..=10_000).contains(&remaining), "{remaining}");
    }
}
