//! php-fpm's answer to a request (the CGI response it writes on `FCGI_STDOUT`: header
//! lines, a blank line, the body) turned into the response JSON that the request's source
//! takes: API Gateway REST (v1), HTTP API and Function URLs (v2), or an ALB.
//!
//! The JSON is written straight from the CGI bytes, which it borrows: no `Value` tree, and
//! repeated headers are joined while they are written (measured once, in release: a
//! median of 10 µs for a 20 KB HTML page).

use std::borrow::Cow;
use std::fmt;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde::Serialize;
use serde::ser::{SerializeMap, Serializer};

use super::event::Source;
use crate::error_response::{ErrorResponse, ErrorType};

/// How much of a malformed line of php-fpm's output an error quotes.
const QUOTED_LENGTH: usize = 200;

/// The Lambda response for php-fpm's output `stdout` to a request from `source`.
///
/// - Status: from the `Status:` header (`Status: 404 Not Found` → 404), 200 without one.
/// - Headers: all kept, repeats too. Where the format has one value per name, repeats are
///   joined with `, `, except `Set-Cookie`, which cannot be joined: v2 puts every one in
///   `cookies`, v1 and ALB in `multiValueHeaders` when the event had them; with `headers`
///   alone only the last `Set-Cookie` can be sent. v2's header names are lower-cased.
/// - Body: text when valid UTF-8 and neither compressed (`Content-Encoding`) nor of a
///   binary `Content-Type`; base64 otherwise. Empty for a `HEAD` request, whose
///   `Content-Length` header stays as the application set it.
///
/// An output that is not a CGI response (no blank line ends the headers, a header line
/// without a name, a status that is not a number from 100 to 599) is an `InvalidResponse`
/// error, as nginx answers 502 to it.
pub fn response(source: Source, is_head: bool, stdout: &[u8]) -> Result<Vec<u8>, ErrorResponse> {
    let cgi = CgiResponse::parse(stdout)?;
    let body = if is_head { &[][..] } else { cgi.body };
    // An empty body is text whatever its type: `""` either way, without the flag.
    let text = if !body.is_empty() && cgi.has_binary_content() {
        None
    } else {
        std::str::from_utf8(body).ok()
    };
    let encoded;
    let (body, is_base64_encoded) = match text {
        Some(text) => (text, false),
        None => {
            encoded = STANDARD.encode(body);
            (encoded.as_str(), true)
        }
    };

    let lower_case_names = source == Source::ApiGatewayV2;
    let mut cookies = Vec::new();
    let mut headers: Vec<Header> = Vec::with_capacity(cgi.headers.len());
    for (name, value) in cgi.headers {
        if lower_case_names && name.eq_ignore_ascii_case("set-cookie") {
            cookies.push(value);
            continue;
        }
        match headers
            .iter_mut()
            .find(|header| header.name.eq_ignore_ascii_case(name))
        {
            Some(header) => header.values.push(value),
            None => headers.push(Header {
                name: if lower_case_names && name.bytes().any(|b| b.is_ascii_uppercase()) {
                    Cow::Owned(name.to_ascii_lowercase())
                } else {
                    Cow::Borrowed(name)
                },
                values: vec![value],
            }),
        }
    }

    let multi_value_headers = match source {
        Source::ApiGatewayV1 {
            multi_value_headers,
        }
        | Source::Alb {
            multi_value_headers,
        } => multi_value_headers,
        Source::ApiGatewayV2 => false,
    };
    let status_description = match source {
        Source::Alb { .. } => Some(format!("{} {}", cgi.status, reason_phrase(cgi.status))),
        _ => None,
    };
    let response = LambdaResponse {
        status_code: cgi.status,
        status_description,
        headers: (!multi_value_headers).then_some(SingleValueHeaders(&headers)),
        multi_value_headers: multi_value_headers.then_some(MultiValueHeaders(&headers)),
        cookies: &cookies,
        body,
        is_base64_encoded,
    };
    let mut json = Vec::with_capacity(body.len() + 512 + stdout.len() - cgi.body.len());
    serde_json::to_writer(&mut json, &response).expect("a response of strings always serializes");
    Ok(json)
}

/// php-fpm's output, split: the status taken out of the headers.
struct CgiResponse<'a> {
    status: u16,
    /// (name, value) in php-fpm's order; values not valid UTF-8 are made so (U+FFFD).
    headers: Vec<(&'a str, Cow<'a, str>)>,
    body: &'a [u8],
}

impl<'a> CgiResponse<'a> {
    fn parse(stdout: &'a [u8]) -> Result<Self, ErrorResponse> {
        let mut status = 200;
        let mut headers = Vec::with_capacity(16);
        let mut rest = stdout;
        loop {
            let Some(end) = rest.iter().position(|&b| b == b'\n') else {
                return Err(invalid(format!(
                    "php-fpm's output has no blank line after its headers ({} bytes)",
                    stdout.len()
                )));
            };
            let line = &rest[..end];
            rest = &rest[end + 1..];
            let line = line.strip_suffix(b"\r").unwrap_or(line);
            if line.is_empty() {
                break;
            }
            let name = line
                .iter()
                .position(|&b| b == b':')
                .map(|colon| &line[..colon])
                .filter(|name| !name.is_empty() && name.iter().all(|&b| is_token_byte(b)))
                .and_then(|name| std::str::from_utf8(name).ok());
            let Some(name) = name else {
                return Err(invalid(format!(
                    "php-fpm's output has a malformed header line: `{}`",
                    quoted(line)
                )));
            };
            let value = String::from_utf8_lossy(line[name.len() + 1..].trim_ascii());
            if name.eq_ignore_ascii_case("status") {
                status = parse_status(&value)?;
            } else {
                headers.push((name, value));
            }
        }
        Ok(Self {
            status,
            headers,
            body: rest,
        })
    }

    /// A compressed body, or one of a `Content-Type` that is not text.
    fn has_binary_content(&self) -> bool {
        let header = |wanted: &str| {
            self.headers
                .iter()
                .rev()
                .find(|(name, _)| name.eq_ignore_ascii_case(wanted))
                .map(|(_, value)| value.as_ref())
        };
        header("content-encoding").is_some()
            || header("content-type").is_some_and(|content_type| !is_text_type(content_type))
    }
}

fn invalid(message: String) -> ErrorResponse {
    ErrorResponse::new(ErrorType::InvalidResponse, message)
}

fn quoted(line: &[u8]) -> String {
    let line = String::from_utf8_lossy(line);
    match line.char_indices().nth(QUOTED_LENGTH) {
        None => line.into_owned(),
        Some((end, _)) => format!("{}…", &line[..end]),
    }
}

/// RFC 9110's `tchar`.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

/// `404 Not Found` → 404.
fn parse_status(value: &str) -> Result<u16, ErrorResponse> {
    value
        .split_ascii_whitespace()
        .next()
        .and_then(|code| code.parse::<u16>().ok())
        .filter(|code| (100..=599).contains(code))
        .ok_or_else(|| {
            invalid(format!(
                "php-fpm's output has an invalid status: `Status: {}`",
                quoted(value.as_bytes())
            ))
        })
}

/// Whether a `Content-Type` is text: `text/*`, JSON, XML, JavaScript, YAML (its
/// parameters, such as `charset`, aside; in any case).
fn is_text_type(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let has_prefix = |prefix: &str| {
        essence
            .get(..prefix.len())
            .is_some_and(|start| start.eq_ignore_ascii_case(prefix))
    };
    let has_suffix = |suffix: &str| {
        essence.len() >= suffix.len()
            && essence
                .get(essence.len() - suffix.len()..)
                .is_some_and(|end| end.eq_ignore_ascii_case(suffix))
    };
    has_prefix("text/")
        || has_suffix("+json")
        || has_suffix("+xml")
        || [
            "application/json",
            "application/xml",
            "application/javascript",
            "application/yaml",
            "application/x-yaml",
        ]
        .iter()
        .any(|text_type| essence.eq_ignore_ascii_case(text_type))
}

/// A status code's reason phrase, as an ALB's `statusDescription` needs it: RFC 9110's,
/// and the common extensions (Laravel's 419 among them); a generic one for the class of
/// any other code.
fn reason_phrase(status: u16) -> &'static str {
    match status {
        100 => "Continue",
        101 => "Switching Protocols",
        102 => "Processing",
        103 => "Early Hints",
        200 => "OK",
        201 => "Created",
        202 => "Accepted",
        203 => "Non-Authoritative Information",
        204 => "No Content",
        205 => "Reset Content",
        206 => "Partial Content",
        207 => "Multi-Status",
        208 => "Already Reported",
        226 => "IM Used",
        300 => "Multiple Choices",
        301 => "Moved Permanently",
        302 => "Found",
        303 => "See Other",
        304 => "Not Modified",
        305 => "Use Proxy",
        307 => "Temporary Redirect",
        308 => "Permanent Redirect",
        400 => "Bad Request",
        401 => "Unauthorized",
        402 => "Payment Required",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        406 => "Not Acceptable",
        407 => "Proxy Authentication Required",
        408 => "Request Timeout",
        409 => "Conflict",
        410 => "Gone",
        411 => "Length Required",
        412 => "Precondition Failed",
        413 => "Content Too Large",
        414 => "URI Too Long",
        415 => "Unsupported Media Type",
        416 => "Range Not Satisfiable",
        417 => "Expectation Failed",
        418 => "I'm a teapot",
        419 => "Page Expired",
        421 => "Misdirected Request",
        422 => "Unprocessable Content",
        423 => "Locked",
        424 => "Failed Dependency",
        425 => "Too Early",
        426 => "Upgrade Required",
        428 => "Precondition Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        451 => "Unavailable For Legal Reasons",
        500 => "Internal Server Error",
        501 => "Not Implemented",
        502 => "Bad Gateway",
        503 => "Service Unavailable",
        504 => "Gateway Timeout",
        505 => "HTTP Version Not Supported",
        506 => "Variant Also Negotiates",
        507 => "Insufficient Storage",
        508 => "Loop Detected",
        510 => "Not Extended",
        511 => "Network Authentication Required",
        _ => match status / 100 {
            1 => "Informational",
            2 => "Success",
            3 => "Redirection",
            4 => "Client Error",
            _ => "Server Error",
        },
    }
}

/// A response header and its values, repeats gathered under its first spelling.
struct Header<'a> {
    name: Cow<'a, str>,
    values: Vec<Cow<'a, str>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct LambdaResponse<'a> {
    status_code: u16,
    /// ALB only.
    #[serde(skip_serializing_if = "Option::is_none")]
    status_description: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    headers: Option<SingleValueHeaders<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    multi_value_headers: Option<MultiValueHeaders<'a>>,
    /// v2 only, left out when there are none.
    #[serde(skip_serializing_if = "<[_]>::is_empty")]
    cookies: &'a [Cow<'a, str>],
    body: &'a str,
    is_base64_encoded: bool,
}

/// `"headers": {"name": "value, value"}`; of several `Set-Cookie`, the last.
struct SingleValueHeaders<'a>(&'a [Header<'a>]);

impl Serialize for SingleValueHeaders<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for header in self.0 {
            if header.name.eq_ignore_ascii_case("set-cookie") {
                map.serialize_entry(&header.name, &header.values[header.values.len() - 1])?;
            } else {
                map.serialize_entry(&header.name, &JoinedValues(&header.values))?;
            }
        }
        map.end()
    }
}

/// `"multiValueHeaders": {"name": ["value", "value"]}`.
struct MultiValueHeaders<'a>(&'a [Header<'a>]);

impl Serialize for MultiValueHeaders<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for header in self.0 {
            map.serialize_entry(&header.name, &header.values)?;
        }
        map.end()
    }
}

/// Values joined with `, ` as they are written, without a joined copy.
struct JoinedValues<'a>(&'a [Cow<'a, str>]);

impl fmt::Display for JoinedValues<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        for (index, value) in self.0.iter().enumerate() {
            if index > 0 {
                formatter.write_str(", ")?;
            }
            formatter.write_str(value)?;
        }
        Ok(())
    }
}

impl Serialize for JoinedValues<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const V1_SINGLE: Source = Source::ApiGatewayV1 {
        multi_value_headers: false,
    };
    const V1_MULTI: Source = Source::ApiGatewayV1 {
        multi_value_headers: true,
    };
    const ALB_SINGLE: Source = Source::Alb {
        multi_value_headers: false,
    };
    const ALB_MULTI: Source = Source::Alb {
        multi_value_headers: true,
    };

    fn json_of(source: Source, is_head: bool, stdout: &[u8]) -> Value {
        serde_json::from_slice(&response(source, is_head, stdout).unwrap()).unwrap()
    }

    fn error(stdout: &[u8]) -> String {
        let error = response(Source::ApiGatewayV2, false, stdout).unwrap_err();
        assert_eq!(error.error_type, "Hover.InvalidResponse");
        error.error_message
    }

    const PAGE: &[u8] = b"Status: 404 Not Found\r\n\
        X-Powered-By: PHP/8.2\r\n\
        Set-Cookie: XSRF-TOKEN=a; expires=Thu, 01 Jan 2026 00:00:00 GMT; path=/\r\n\
        Content-Type: text/html; charset=UTF-8\r\n\
        Vary: Accept\r\n\
        set-cookie: laravel_session=b; path=/; httponly\r\n\
        vary: Origin\r\n\
        \r\n\
        <h1>\"Not\" found</h1>\n";

    #[test]
    fn v2_takes_cookies_apart_and_lower_cases_names() {
        let body = response(Source::ApiGatewayV2, false, PAGE).unwrap();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"statusCode":404,"headers":{"x-powered-by":"PHP/8.2","content-type":"text/html; charset=UTF-8","vary":"Accept, Origin"},"cookies":["XSRF-TOKEN=a; expires=Thu, 01 Jan 2026 00:00:00 GMT; path=/","laravel_session=b; path=/; httponly"],"body":"<h1>\"Not\" found</h1>\n","isBase64Encoded":false}"#
        );
    }

    #[test]
    fn v2_without_headers_or_cookies() {
        let body = response(Source::ApiGatewayV2, false, b"\r\nok").unwrap();
        assert_eq!(
            String::from_utf8(body).unwrap(),
            r#"{"statusCode":200,"headers":{},"body":"ok","isBase64Encoded":false}"#
        );
    }

    #[test]
    fn v1_multi_value_keeps_every_value() {
        assert_eq!(
            json_of(V1_MULTI, false, PAGE),
            json!({
                "statusCode": 404,
                "multiValueHeaders": {
                    "X-Powered-By": ["PHP/8.2"],
                    "Set-Cookie": [
                        "XSRF-TOKEN=a; expires=Thu, 01 Jan 2026 00:00:00 GMT; path=/",
                        "laravel_session=b; path=/; httponly"
                    ],
                    "Content-Type": ["text/html; charset=UTF-8"],
                    "Vary": ["Accept", "Origin"]
                },
                "body": "<h1>\"Not\" found</h1>\n",
                "isBase64Encoded": false
            })
        );
    }

    #[test]
    fn single_value_headers_join_repeats_and_keep_the_last_cookie() {
        let expected_headers = json!({
            "X-Powered-By": "PHP/8.2",
            "Set-Cookie": "laravel_session=b; path=/; httponly",
            "Content-Type": "text/html; charset=UTF-8",
            "Vary": "Accept, Origin"
        });
        let value = json_of(V1_SINGLE, false, PAGE);
        assert_eq!(value["headers"], expected_headers);
        assert_eq!(value.get("multiValueHeaders"), None);
        assert_eq!(value.get("cookies"), None);
        assert_eq!(value.get("statusDescription"), None);
        let value = json_of(ALB_SINGLE, false, PAGE);
        assert_eq!(value["headers"], expected_headers);
        assert_eq!(value.get("multiValueHeaders"), None);
    }

    #[test]
    fn alb_has_a_status_description() {
        let value = json_of(ALB_MULTI, false, PAGE);
        assert_eq!(value["statusCode"], 404);
        assert_eq!(value["statusDescription"], "404 Not Found");
        assert_eq!(
            value["multiValueHeaders"]["Vary"],
            json!(["Accept", "Origin"])
        );
        assert_eq!(value.get("headers"), None);
        let cases = [
            (200, "200 OK"),
            (302, "302 Found"),
            (418, "418 I'm a teapot"),
            (419, "419 Page Expired"),
            (422, "422 Unprocessable Content"),
            (425, "425 Too Early"),
            (429, "429 Too Many Requests"),
            (451, "451 Unavailable For Legal Reasons"),
            (500, "500 Internal Server Error"),
            (503, "503 Service Unavailable"),
            (511, "511 Network Authentication Required"),
            (150, "150 Informational"),
            (299, "299 Success"),
            (399, "399 Redirection"),
            (499, "499 Client Error"),
            (599, "599 Server Error"),
        ];
        for (status, description) in cases {
            let stdout = format!("Status: {status}\r\n\r\n");
            let value = json_of(ALB_SINGLE, false, stdout.as_bytes());
            assert_eq!(value["statusCode"], status);
            assert_eq!(value["statusDescription"], description);
        }
    }

    #[test]
    fn the_status_line_and_its_absence() {
        assert_eq!(
            json_of(
                Source::ApiGatewayV2,
                false,
                b"Content-Type: text/plain\n\nx"
            )["statusCode"],
            200
        );
        let value = json_of(
            Source::ApiGatewayV2,
            false,
            b"status:   201   Created\nX-A: 1\n\n",
        );
        assert_eq!(value["statusCode"], 201);
        assert_eq!(value["headers"], json!({"x-a": "1"}));
        for status in ["abc", "99", "600", "65536", ""] {
            let message = error(format!("Status: {status}\r\n\r\n").as_bytes());
            assert!(
                message.starts_with("php-fpm's output has an invalid status"),
                "{message}"
            );
        }
    }

    #[test]
    fn output_that_is_not_cgi_is_an_error() {
        for stdout in [
            &b""[..],
            b"Content-Type: text/html\r\n",
            b"Content-Type: text/html\r\nbody",
        ] {
            let message = error(stdout);
            assert!(
                message.starts_with("php-fpm's output has no blank line after its headers"),
                "{message}"
            );
        }
        for line in ["no colon here", ": value", "Bad Name: 1", " folded: 1"] {
            let message = error(format!("{line}\r\n\r\n").as_bytes());
            assert_eq!(
                message,
                format!("php-fpm's output has a malformed header line: `{line}`")
            );
        }
        let long = format!("{}\r\n\r\n", "x".repeat(10_000));
        assert!(error(long.as_bytes()).len() < 300);
    }

    #[test]
    fn binary_bodies_are_base64_and_text_is_not() {
        let png = b"\x89PNG\r\n\x1a\n\x00\x00";
        let text = "héllo \"world\"\n\u{0}\u{1f}";
        let cases: [(&str, &[u8], bool); 14] = [
            ("Content-Type: image/png", png, true),
            (
                "Content-Type: application/octet-stream",
                b"plain ascii",
                true,
            ),
            ("Content-Type: application/pdf", b"%PDF", true),
            (
                "Content-Type: text/html; charset=UTF-8\r\nContent-Encoding: gzip",
                b"not really gzip",
                true,
            ),
            ("Content-Type: text/plain", b"\xff\xfe not UTF-8", true),
            ("X-None: 1", b"\xff", true),
            ("X-None: 1", text.as_bytes(), false),
            ("Content-Type: text/csv", text.as_bytes(), false),
            (
                "Content-Type: Application/JSON; charset=utf-8",
                text.as_bytes(),
                false,
            ),
            (
                "Content-Type: application/vnd.api+json",
                text.as_bytes(),
                false,
            ),
            ("Content-Type: image/svg+XML", text.as_bytes(), false),
            (
                "Content-Type: application/javascript",
                text.as_bytes(),
                false,
            ),
            ("Content-Type: application/x-yaml", text.as_bytes(), false),
            (
                "Content-Type: application/yaml ; q=1",
                text.as_bytes(),
                false,
            ),
        ];
        for (headers, body, is_binary) in cases {
            let mut stdout = format!("{headers}\r\n\r\n").into_bytes();
            stdout.extend_from_slice(body);
            for source in [Source::ApiGatewayV2, V1_MULTI, ALB_SINGLE] {
                let value = json_of(source, false, &stdout);
                assert_eq!(value["isBase64Encoded"], is_binary, "{headers}");
                let body_field = value["body"].as_str().unwrap();
                let received = if is_binary {
                    STANDARD.decode(body_field).unwrap()
                } else {
                    body_field.as_bytes().to_vec()
                };
                assert_eq!(received, body, "{headers}");
            }
        }
    }

    #[test]
    fn head_responses_have_no_body_but_keep_content_length() {
        let stdout = b"Content-Type: image/png\r\nContent-Length: 5\r\n\r\n\x89PNG\x00";
        let value = json_of(Source::ApiGatewayV2, true, stdout);
        assert_eq!(value["body"], "");
        assert_eq!(value["isBase64Encoded"], false);
        assert_eq!(value["headers"]["content-length"], "5");
        let value = json_of(V1_MULTI, true, b"Content-Length: 2\r\n\r\nhi");
        assert_eq!(value["body"], "");
        assert_eq!(value["multiValueHeaders"]["Content-Length"], json!(["2"]));
    }

    #[test]
    fn header_values_are_trimmed_and_made_utf8() {
        let value = json_of(
            Source::ApiGatewayV2,
            false,
            b"X-A:\t spaced \t\r\nX-B: caf\xe9\r\nX-C:\r\n\r\n",
        );
        assert_eq!(
            value["headers"],
            json!({"x-a": "spaced", "x-b": "caf\u{fffd}", "x-c": ""})
        );
    }

    #[test]
    fn a_large_body_is_kept_whole() {
        let mut stdout = b"Content-Type: application/json\r\n\r\n".to_vec();
        let body = "\"é\\\n".repeat(1024 * 1024);
        stdout.extend_from_slice(body.as_bytes());
        let value = json_of(Source::ApiGatewayV2, false, &stdout);
        assert_eq!(value["body"].as_str().unwrap(), body);
    }
}
