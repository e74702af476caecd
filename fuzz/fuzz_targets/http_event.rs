//! The event of an HTTP function invocation (API Gateway v1/v2, ALB, warmers), turned into
//! php-fpm's CGI params and body.

#![no_main]

use hover_core::http::event::{Event, MAX_WARMER_CONTAINERS, Script, parse_event};
use libfuzzer_sys::fuzz_target;

/// The params that do not come from a header.
const FIXED_PARAMS: [&str; 21] = [
    "GATEWAY_INTERFACE",
    "SERVER_SOFTWARE",
    "SERVER_PROTOCOL",
    "REQUEST_METHOD",
    "HTTPS",
    "REQUEST_SCHEME",
    "SERVER_NAME",
    "SERVER_PORT",
    "REMOTE_ADDR",
    "SCRIPT_FILENAME",
    "SCRIPT_NAME",
    "DOCUMENT_ROOT",
    "DOCUMENT_URI",
    "REQUEST_URI",
    "QUERY_STRING",
    "CONTENT_LENGTH",
    "CONTENT_TYPE",
    "REDIRECT_STATUS",
    "HOVER_STORAGE_PATH",
    "LAMBDA_REQUEST_ID",
    "_X_AMZN_TRACE_ID",
];

fuzz_target!(|data: &[u8]| {
    let script = Script {
        filename: "/opt/hover/index.php".into(),
        document_root: "/var/task/public".into(),
        storage_path: "/tmp/storage".into(),
    };
    match parse_event(data, &script, "request-id", Some("Root=1-trace")) {
        Ok(Event::Request(request)) => {
            let mut names: Vec<&str> = request
                .params
                .iter()
                .map(|(name, _)| name.as_ref())
                .collect();
            for (name, value) in &request.params {
                // A header's param: HTTP_ and what nginx would make of a plain name.
                assert!(
                    FIXED_PARAMS.contains(&name.as_ref())
                        || name.strip_prefix("HTTP_").is_some_and(|rest| {
                            !rest.is_empty()
                                && rest.bytes().all(|b| {
                                    b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'_'
                                })
                        }),
                    "{name}"
                );
                assert_ne!(name, "HTTP_PROXY");
                assert!(!value.contains(['\0', '\r', '\n']), "{name}: {value:?}");
            }
            assert_eq!(
                request.param("CONTENT_LENGTH"),
                Some(request.body.len().to_string().as_str())
            );
            assert!(
                request
                    .param("REQUEST_URI")
                    .is_some_and(|uri| uri.starts_with('/'))
            );
            let count = names.len();
            names.sort_unstable();
            names.dedup();
            assert_eq!(names.len(), count, "a param name repeats");
        }
        Ok(Event::Warmer { containers }) => {
            assert!((1..=MAX_WARMER_CONTAINERS).contains(&containers))
        }
        Ok(Event::WarmerPing) => {}
        Err(error) => {
            assert_eq!(error.error_type, "Hover.InvalidEvent");
            // Quoted, never copied whole.
            assert!(
                error.error_message.len() < 4096,
                "{} bytes",
                error.error_message.len()
            );
        }
    }
});
