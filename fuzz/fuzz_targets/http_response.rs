//! php-fpm's CGI output for a request, turned into the response JSON of each source. The
//! first byte picks the source and HEAD; the rest is the output.

#![no_main]

use hover_core::http::event::Source;
use hover_core::http::response::response;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, stdout)) = data.split_first() else {
        return;
    };
    let source = match selector % 5 {
        0 => Source::ApiGatewayV2,
        1 => Source::ApiGatewayV1 {
            multi_value_headers: false,
        },
        2 => Source::ApiGatewayV1 {
            multi_value_headers: true,
        },
        3 => Source::Alb {
            multi_value_headers: false,
        },
        _ => Source::Alb {
            multi_value_headers: true,
        },
    };
    let is_head = selector & 0x80 != 0;
    match response(source, is_head, stdout) {
        Ok(json) => {
            let value: serde_json::Value =
                serde_json::from_slice(&json).expect("the response is JSON");
            let status = value["statusCode"].as_u64().expect("a status code");
            assert!((100..=599).contains(&status));
            assert!(value["body"].is_string());
            assert!(!is_head || value["body"] == "");
        }
        Err(error) => assert_eq!(error.error_type, "Hover.InvalidResponse"),
    }
});
