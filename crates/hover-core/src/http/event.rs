//! The event of an HTTP function invocation (API Gateway REST or HTTP API, a Function URL,
//! an ALB target), turned into what php-fpm is sent: the CGI params, as nginx's
//! `fastcgi_params` would send them, and the request body.
//!
//! The event is parsed in one pass into small typed structs that borrow its strings (only
//! strings with JSON escapes are copied), never into a `serde_json::Value` tree: this runs
//! on every request, within a budget of tens of microseconds (measured once, in release on
//! a shared 2-core builder: a median of 8 µs for the REST API sample of 20 headers, 3.5 µs
//! for the HTTP API one). Keep allocations low: two per header (its param's name and
//! value), none for the strings read.
//!
//! Nothing in the event is trusted: header names become param names only when they are
//! plain (`[A-Za-z0-9-]+`), and a value that could cut or split a line (NUL, CR, LF) never
//! reaches php-fpm.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use base64::Engine;
use base64::engine::DecodePaddingMode;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig};
use percent_encoding::{AsciiSet, CONTROLS, NON_ALPHANUMERIC, utf8_percent_encode};
use serde::Deserialize;
use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::error_response::{ErrorResponse, ErrorType};
use crate::event_error::{capped, listed_fields, not_an_object};

/// What an HTTP function is invoked with.
#[derive(Debug, PartialEq, Eq)]
pub enum Event {
    /// `{"warmer": true, "containers": N}`: keep N instances warm (this one included).
    Warmer { containers: u64 },
    /// `{"warmer_ping": true}`: a warmer's invocation of one more instance.
    WarmerPing,
    /// A request from API Gateway or an ALB.
    Request(HttpRequest),
}

/// Where a request came from: it decides the response's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// API Gateway REST API (payload format 1.0). `multi_value_headers`: the event had
    /// `multiValueHeaders`, and the response uses them too.
    ApiGatewayV1 { multi_value_headers: bool },
    /// API Gateway HTTP API (payload format 2.0), and Lambda Function URLs.
    ApiGatewayV2,
    /// An Application Load Balancer's Lambda target. `multi_value_headers`: the target
    /// group has multi-value headers on (the event has `multiValueHeaders`), and the
    /// response must use them.
    Alb { multi_value_headers: bool },
}

/// A request, ready for php-fpm.
#[derive(Debug, PartialEq, Eq)]
pub struct HttpRequest {
    pub source: Source,
    /// A `HEAD` request: the response has no body.
    pub is_head: bool,
    /// The CGI params as (name, value), each name once, as nginx's `fastcgi_params` would
    /// send them: `GATEWAY_INTERFACE` (`CGI/1.1`), `SERVER_SOFTWARE` (`hover`),
    /// `SERVER_PROTOCOL`, `REQUEST_METHOD`, `HTTPS` (`on`, only when HTTPS),
    /// `REQUEST_SCHEME`, `SERVER_NAME`, `SERVER_PORT`, `REMOTE_ADDR` (when known),
    /// `SCRIPT_FILENAME`, `SCRIPT_NAME`, `DOCUMENT_ROOT`, `DOCUMENT_URI` (the encoded path),
    /// `REQUEST_URI`, `QUERY_STRING` (empty when none), `CONTENT_LENGTH` (always, `0`
    /// without a body), `CONTENT_TYPE` (only with the header), `REDIRECT_STATUS` (`200`),
    /// `HOVER_STORAGE_PATH` (where the front controller puts Laravel's storage),
    /// then the invocation's `LAMBDA_REQUEST_ID` and `_X_AMZN_TRACE_ID` (when given), and
    /// one `HTTP_*` per request header, sorted. Values never hold NUL, CR or LF.
    pub params: Vec<(Cow<'static, str>, String)>,
    /// The body, base64-decoded when the event says so; `CONTENT_LENGTH` is its length.
    pub body: Vec<u8>,
}

impl HttpRequest {
    /// The value of a param, for logs and tests.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(param, _)| param == name)
            .map(|(_, value)| value.as_str())
    }
}

/// Where the front controller is, fixed for the life of the process.
#[derive(Debug, Clone)]
pub struct Script {
    /// The absolute path of the runtime's `index.php`: `SCRIPT_FILENAME`.
    pub filename: String,
    /// The application's `public/` directory: `DOCUMENT_ROOT`.
    pub document_root: String,
    /// Laravel's storage path, for the front controller: `HOVER_STORAGE_PATH`.
    pub storage_path: String,
}

/// `SCRIPT_NAME`: the front controller as the URL would name it. With this and a
/// `SCRIPT_FILENAME` ending in `index.php`, Symfony finds no base URL, as under nginx.
const SCRIPT_NAME: &str = "/index.php";
/// A warmer's `containers` is clamped to 1..=this: Lambda's default concurrency quota of
/// a region. More would only be throttled.
pub const MAX_WARMER_CONTAINERS: u64 = 1000;

/// Bytes percent-encoded in the path: what RFC 3986 does not allow in a path (controls,
/// space, `"`, `#`, `<`, `>`, `?`, `[`, `\`, `]`, `^`, `` ` ``, `{`, `|`, `}`; non-ASCII
/// bytes are always encoded). `%` is kept: the path may already be encoded.
const PATH_ENCODED: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'[')
    .add(b'\\')
    .add(b']')
    .add(b'^')
    .add(b'`')
    .add(b'{')
    .add(b'|')
    .add(b'}');
/// Bytes percent-encoded in a query key or value rebuilt from API Gateway v1's decoded
/// parameters: all but RFC 3986's unreserved characters.
const QUERY_COMPONENT_ENCODED: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');
/// Base64 as API Gateway and ALB send it, accepting a missing padding too.
const BODY_BASE64: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Reads an invocation's event: a warmer, or a request turned into CGI params and a body.
/// `request_id` and `trace_id` are the invocation's, from the Runtime API.
pub fn parse_event(
    payload: &[u8],
    script: &Script,
    request_id: &str,
    trace_id: Option<&str>,
) -> Result<Event, ErrorResponse> {
    // serde would also take an array for the struct, its fields by position.
    if payload.trim_ascii_start().first() != Some(&b'{') {
        return Err(not_an_object(payload, "API Gateway and ALBs send"));
    }
    let event: RawEvent = serde_json::from_slice(payload).map_err(|error| {
        invalid(if error.is_data() {
            format!(
                "the event does not have the shape of an HTTP event from API Gateway or an ALB ({})",
                capped(&error.to_string())
            )
        } else {
            format!("the event is not valid JSON ({error})")
        })
    })?;
    if event.warmer == Some(true) {
        return Ok(Event::Warmer {
            containers: warmer_containers(event.containers.as_ref()),
        });
    }
    if event.warmer_ping == Some(true) {
        return Ok(Event::WarmerPing);
    }
    let context = event.request_context.as_ref();
    let (source, method) = if context.is_some_and(|context| context.elb.is_some()) {
        let source = Source::Alb {
            multi_value_headers: event.multi_value_headers.is_some(),
        };
        (source, event.http_method.as_ref())
    } else if event
        .version
        .as_ref()
        .is_some_and(|version| version.0 == "2.0")
    {
        let method = context
            .and_then(|context| context.http.as_ref())
            .and_then(|http| http.method.as_ref());
        (Source::ApiGatewayV2, method)
    } else {
        let source = Source::ApiGatewayV1 {
            multi_value_headers: event.multi_value_headers.is_some(),
        };
        (source, event.http_method.as_ref())
    };
    let Some(method) = method else {
        return Err(not_an_http_event(payload));
    };
    let method = request_method(&method.0)?;
    let body = request_body(&event)?;
    let query = query_string(&event, source);
    // Taken as is from v2 and ALB events; no HTTP request line can hold these.
    if !is_clean_value(&query) {
        return Err(invalid(
            "the query string holds a NUL, CR or LF, which no HTTP request can".to_owned(),
        ));
    }
    let params = request_params(
        &event,
        source,
        &method,
        query,
        body.len(),
        &Invocation {
            script,
            request_id,
            trace_id,
        },
    );
    Ok(Event::Request(HttpRequest {
        source,
        is_head: method == "HEAD",
        params,
        body,
    }))
}

fn invalid(message: String) -> ErrorResponse {
    ErrorResponse::new(ErrorType::InvalidEvent, message)
}

/// The error for a JSON object that is no request: names the fields it has instead (a
/// few, each cut short), which tells an SQS or a WebSocket event apart at a glance.
fn not_an_http_event(payload: &[u8]) -> ErrorResponse {
    let fields = serde_json::from_slice::<Entries<IgnoredAny>>(payload)
        .map(|entries| entries.0)
        .unwrap_or_default();
    invalid(format!(
        "the event is not an HTTP request: an API Gateway REST event has `httpMethod`, an HTTP API \
         or Function URL event has `version` \"2.0\" and `requestContext.http.method`, an ALB event \
         has `requestContext.elb` and `httpMethod`; this one has {}",
        listed_fields(fields.iter().map(|(name, _)| &*name.0))
    ))
}

/// `containers` of a warmer: a whole number, clamped to 1..=[`MAX_WARMER_CONTAINERS`];
/// 1 when missing or not a whole number.
fn warmer_containers(containers: Option<&serde_json::Value>) -> u64 {
    containers
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(1)
        .clamp(1, MAX_WARMER_CONTAINERS)
}

/// The method upper-cased; refused unless it is an HTTP token.
fn request_method(method: &str) -> Result<String, ErrorResponse> {
    const LONGEST_METHOD: usize = 32;
    if method.is_empty() || method.len() > LONGEST_METHOD || !method.bytes().all(is_token_byte) {
        return Err(invalid(format!(
            "the request's method `{}` is not an HTTP method",
            capped(method)
        )));
    }
    Ok(method.to_ascii_uppercase())
}

/// RFC 9110's `tchar`.
fn is_token_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&byte)
}

fn request_body(event: &RawEvent) -> Result<Vec<u8>, ErrorResponse> {
    let Some(body) = &event.body else {
        return Ok(Vec::new());
    };
    if event.is_base64_encoded == Some(true) {
        BODY_BASE64.decode(body.0.as_bytes()).map_err(|error| {
            invalid(format!(
                "the body is marked `isBase64Encoded` but is not base64 ({error})"
            ))
        })
    } else {
        Ok(body.0.as_bytes().to_vec())
    }
}

/// What the params say besides the request: the process's script, the invocation's ids.
struct Invocation<'i> {
    script: &'i Script,
    request_id: &'i str,
    trace_id: Option<&'i str>,
}

/// Every CGI param of a request.
fn request_params(
    event: &RawEvent,
    source: Source,
    method: &str,
    query: String,
    content_length: usize,
    invocation: &Invocation,
) -> Vec<(Cow<'static, str>, String)> {
    let context = event.request_context.as_ref();
    let cookies = event
        .cookies
        .as_ref()
        .filter(|cookies| source == Source::ApiGatewayV2 && !cookies.is_empty());
    let mut headers = Headers::new(cookies.is_some());
    match &event.multi_value_headers {
        Some(multi_value_headers) if source != Source::ApiGatewayV2 => {
            for (name, values) in &multi_value_headers.0 {
                headers.add(&name.0, values);
            }
        }
        _ => {
            for (name, value) in event.headers.iter().flat_map(|headers| &headers.0) {
                headers.add(&name.0, std::slice::from_ref(value));
            }
        }
    }
    if let Some(cookies) = cookies {
        let cookies: Vec<&str> = cookies
            .iter()
            .map(|cookie| cookie.0.as_ref())
            .filter(|cookie| is_clean_value(cookie))
            .collect();
        headers
            .params
            .push(("HTTP_COOKIE".to_owned(), cookies.join("; ")));
    }

    let https = matches!(source, Source::ApiGatewayV1 { .. } | Source::ApiGatewayV2)
        || headers
            .forwarded_proto
            .is_some_and(|proto| last_entry(proto).eq_ignore_ascii_case("https"));
    let server_port = headers
        .forwarded_port
        .and_then(|port| last_entry(port).parse::<u16>().ok())
        .filter(|&port| port != 0)
        .unwrap_or(if https { 443 } else { 80 });
    let server_name = [
        headers.host,
        context
            .and_then(|context| context.domain_name.as_ref())
            .map(|name| name.0.as_ref()),
    ]
    .into_iter()
    .flatten()
    .filter(|host| is_clean_value(host))
    .map(host_without_port)
    .find(|name| !name.is_empty())
    .unwrap_or("localhost");
    let protocol = match source {
        Source::ApiGatewayV1 { .. } => context.and_then(|context| context.protocol.as_ref()),
        Source::ApiGatewayV2 => context
            .and_then(|context| context.http.as_ref())
            .and_then(|http| http.protocol.as_ref()),
        Source::Alb { .. } => None,
    }
    .map(|protocol| protocol.0.as_ref())
    .filter(|protocol| is_http_version(protocol))
    .unwrap_or("HTTP/1.1");
    let remote_addr = match source {
        Source::ApiGatewayV1 { .. } => context
            .and_then(|context| context.identity.as_ref())
            .and_then(|identity| identity.source_ip.as_ref())
            .map(|ip| ip.0.as_ref()),
        Source::ApiGatewayV2 => context
            .and_then(|context| context.http.as_ref())
            .and_then(|http| http.source_ip.as_ref())
            .map(|ip| ip.0.as_ref()),
        Source::Alb { .. } => headers.forwarded_for.map(last_entry),
    }
    .filter(|addr| !addr.is_empty() && is_clean_value(addr));

    let raw_path = match source {
        Source::ApiGatewayV2 => event.raw_path.as_ref(),
        _ => event.path.as_ref(),
    }
    .map_or("", |path| path.0.as_ref());
    let path = request_path(raw_path);
    let request_uri = if query.is_empty() {
        path.clone().into_owned()
    } else {
        format!("{path}?{query}")
    };

    let header_params = headers.into_params();
    let mut params: Vec<(Cow<'static, str>, String)> = Vec::with_capacity(20 + header_params.len());
    let mut add = |name: &'static str, value: String| params.push((Cow::Borrowed(name), value));
    add("GATEWAY_INTERFACE", "CGI/1.1".to_owned());
    add("SERVER_SOFTWARE", "hover".to_owned());
    add("SERVER_PROTOCOL", protocol.to_owned());
    add("REQUEST_METHOD", method.to_owned());
    if https {
        add("HTTPS", "on".to_owned());
    }
    add(
        "REQUEST_SCHEME",
        if https { "https" } else { "http" }.to_owned(),
    );
    add("SERVER_NAME", server_name.to_owned());
    add("SERVER_PORT", server_port.to_string());
    if let Some(remote_addr) = remote_addr {
        add("REMOTE_ADDR", remote_addr.to_owned());
    }
    add("SCRIPT_FILENAME", invocation.script.filename.clone());
    add("SCRIPT_NAME", SCRIPT_NAME.to_owned());
    add("DOCUMENT_ROOT", invocation.script.document_root.clone());
    add("DOCUMENT_URI", path.into_owned());
    add("REQUEST_URI", request_uri);
    add("QUERY_STRING", query);
    add("CONTENT_LENGTH", content_length.to_string());
    add("REDIRECT_STATUS", "200".to_owned());
    add("HOVER_STORAGE_PATH", invocation.script.storage_path.clone());
    add("LAMBDA_REQUEST_ID", invocation.request_id.to_owned());
    if let Some(trace_id) = invocation.trace_id {
        add("_X_AMZN_TRACE_ID", trace_id.to_owned());
    }
    params.extend(
        header_params
            .into_iter()
            .map(|(name, value)| (Cow::Owned(name), value)),
    );
    params
}

/// The request headers as params, and the last value of those that other params derive
/// from.
struct Headers<'e> {
    /// (param name, value) in the event's order; names may repeat until [`Self::into_params`].
    params: Vec<(String, String)>,
    /// The event's `cookies` replace any `Cookie` header (Function URLs send both).
    replace_cookie_header: bool,
    host: Option<&'e str>,
    forwarded_for: Option<&'e str>,
    forwarded_proto: Option<&'e str>,
    forwarded_port: Option<&'e str>,
}

impl<'e> Headers<'e> {
    fn new(replace_cookie_header: bool) -> Self {
        Self {
            params: Vec::with_capacity(32),
            replace_cookie_header,
            host: None,
            forwarded_for: None,
            forwarded_proto: None,
            forwarded_port: None,
        }
    }

    /// A header and its values: `HTTP_<NAME>` (`CONTENT_TYPE` for Content-Type), values
    /// joined with `, `. Dropped whole: a name that is not plain letters, digits and `-`
    /// (as nginx drops them by default: `X_Forwarded_For` must not pass for
    /// `X-Forwarded-For`), `Proxy` (httpoxy), and a header with a value containing NUL,
    /// CR or LF. `Content-Length` is left out: `CONTENT_LENGTH` is the body's own length.
    fn add(&mut self, name: &'e str, values: &'e [Text<'e>]) {
        let Some(last) = values.last() else {
            return;
        };
        if !is_plain_header_name(name)
            || name.eq_ignore_ascii_case("proxy")
            || name.eq_ignore_ascii_case("content-length")
            || (self.replace_cookie_header && name.eq_ignore_ascii_case("cookie"))
            || !values.iter().all(|value| is_clean_value(&value.0))
        {
            return;
        }
        let last = last.0.as_ref();
        if name.eq_ignore_ascii_case("host") {
            self.host = Some(last);
        } else if name.eq_ignore_ascii_case("x-forwarded-for") {
            self.forwarded_for = Some(last);
        } else if name.eq_ignore_ascii_case("x-forwarded-proto") {
            self.forwarded_proto = Some(last);
        } else if name.eq_ignore_ascii_case("x-forwarded-port") {
            self.forwarded_port = Some(last);
        }
        let param = if name.eq_ignore_ascii_case("content-type") {
            "CONTENT_TYPE".to_owned()
        } else {
            let mut param = String::with_capacity(5 + name.len());
            param.push_str("HTTP_");
            param.extend(name.chars().map(|c| match c {
                '-' => '_',
                c => c.to_ascii_uppercase(),
            }));
            param
        };
        let separator = value_separator(&param);
        let mut value = String::with_capacity(values.iter().map(|value| value.0.len() + 2).sum());
        for (index, part) in values.iter().enumerate() {
            if index > 0 {
                value.push_str(separator);
            }
            value.push_str(&part.0);
        }
        self.params.push((param, value));
    }

    /// The params, each name once: headers that differ only in case (a v1 event can have
    /// `Accept` and `accept`) are joined in the event's order. Sorted by name.
    fn into_params(mut self) -> Vec<(String, String)> {
        self.params.sort_by(|a, b| a.0.cmp(&b.0));
        self.params.dedup_by(|later, earlier| {
            if later.0 != earlier.0 {
                return false;
            }
            earlier.1.push_str(value_separator(&earlier.0));
            earlier.1.push_str(&later.1);
            true
        });
        self.params
    }
}

/// Repeated values of a header are joined with `, `, but cookies with `; `.
fn value_separator(param: &str) -> &'static str {
    if param == "HTTP_COOKIE" { "; " } else { ", " }
}

fn is_plain_header_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// No NUL to cut a C string short, no CR or LF to split a header line.
fn is_clean_value(value: &str) -> bool {
    !value.contains(['\0', '\r', '\n'])
}

/// The last entry of a comma-separated list (the one the nearest proxy added), trimmed.
fn last_entry(list: &str) -> &str {
    list.rsplit(',').next().unwrap_or(list).trim()
}

/// `example.com:8080` → `example.com`, `[::1]:8080` → `[::1]`.
fn host_without_port(host: &str) -> &str {
    let host = host.trim();
    if host.starts_with('[') {
        return host.find(']').map_or(host, |end| &host[..=end]);
    }
    host.split(':').next().unwrap_or(host)
}

/// `HTTP/1.1`, `HTTP/2.0`, `HTTP/3`…
fn is_http_version(protocol: &str) -> bool {
    protocol.len() <= 16
        && protocol.strip_prefix("HTTP/").is_some_and(|version| {
            !version.is_empty() && version.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        })
}

/// The path as it goes in `REQUEST_URI` and `DOCUMENT_URI`: what is illegal in a URI path
/// percent-encoded, the rest (`%` included) as is; `/` when missing, and starting with `/`.
fn request_path(path: &str) -> Cow<'_, str> {
    let encoded: Cow<str> = utf8_percent_encode(path, PATH_ENCODED).into();
    if encoded.starts_with('/') {
        encoded
    } else {
        Cow::Owned(format!("/{encoded}"))
    }
}

/// `QUERY_STRING`, without losing anything the event has: HTTP API's `rawQueryString` byte
/// for byte; API Gateway v1's decoded parameters encoded again; an ALB's parameters, which
/// it leaves encoded as the client sent them, joined as they are.
fn query_string(event: &RawEvent, source: Source) -> String {
    if source == Source::ApiGatewayV2 {
        return event
            .raw_query_string
            .as_ref()
            .map_or_else(String::new, |query| query.0.clone().into_owned());
    }
    let encoded = matches!(source, Source::ApiGatewayV1 { .. });
    let mut query = String::new();
    let mut add = |key: &str, value: &str| {
        if !query.is_empty() {
            query.push('&');
        }
        if encoded {
            query.extend(utf8_percent_encode(key, QUERY_COMPONENT_ENCODED));
            query.push('=');
            query.extend(utf8_percent_encode(value, QUERY_COMPONENT_ENCODED));
        } else {
            query.push_str(key);
            query.push('=');
            query.push_str(value);
        }
    };
    if let Some(parameters) = &event.multi_value_query_string_parameters {
        for (key, values) in &parameters.0 {
            for value in values {
                add(&key.0, &value.0);
            }
        }
    } else if let Some(parameters) = &event.query_string_parameters {
        for (key, value) in &parameters.0 {
            add(&key.0, &value.0);
        }
    }
    query
}

// The event's JSON. Every string is a `Text`, borrowed from the payload; objects are
// `Entries`, which keep the event's order. (`aws_lambda_events` is not used: its
// `QueryMap` and `HeaderMap` are hash maps, which lose the order of the query's
// parameters, and it copies every string.) Fields not read here are skipped unparsed.

#[derive(Deserialize)]
#[serde(rename_all = "camelCase", expecting = "an object")]
struct RawEvent<'a> {
    #[serde(borrow)]
    version: Option<Text<'a>>,
    #[serde(borrow)]
    http_method: Option<Text<'a>>,
    #[serde(borrow)]
    path: Option<Text<'a>>,
    #[serde(borrow)]
    raw_path: Option<Text<'a>>,
    #[serde(borrow)]
    raw_query_string: Option<Text<'a>>,
    #[serde(borrow)]
    query_string_parameters: Option<Entries<'a, Text<'a>>>,
    #[serde(borrow)]
    multi_value_query_string_parameters: Option<Entries<'a, Vec<Text<'a>>>>,
    #[serde(borrow)]
    headers: Option<Entries<'a, Text<'a>>>,
    #[serde(borrow)]
    multi_value_headers: Option<Entries<'a, Vec<Text<'a>>>>,
    #[serde(borrow)]
    cookies: Option<Vec<Text<'a>>>,
    #[serde(borrow)]
    body: Option<Text<'a>>,
    is_base64_encoded: Option<bool>,
    #[serde(borrow)]
    request_context: Option<RequestContext<'a>>,
    warmer: Option<bool>,
    #[serde(rename = "warmer_ping")]
    warmer_ping: Option<bool>,
    containers: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RequestContext<'a> {
    /// Present only in an ALB's events.
    elb: Option<IgnoredAny>,
    #[serde(borrow)]
    domain_name: Option<Text<'a>>,
    /// API Gateway v1.
    #[serde(borrow)]
    protocol: Option<Text<'a>>,
    /// API Gateway v1.
    #[serde(borrow)]
    identity: Option<Identity<'a>>,
    /// API Gateway v2.
    #[serde(borrow)]
    http: Option<HttpContext<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Identity<'a> {
    #[serde(borrow)]
    source_ip: Option<Text<'a>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct HttpContext<'a> {
    #[serde(borrow)]
    method: Option<Text<'a>>,
    #[serde(borrow)]
    protocol: Option<Text<'a>>,
    #[serde(borrow)]
    source_ip: Option<Text<'a>>,
}

/// A JSON string, borrowed from the payload unless it holds escapes. (serde borrows a
/// `Cow<str>` only as a struct's own field: inside an `Option`, a `Vec` or a map it copies
/// every time.)
struct Text<'a>(Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TextVisitor;
        impl<'de> Visitor<'de> for TextVisitor {
            type Value = Text<'de>;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("a string")
            }
            fn visit_borrowed_str<E: de::Error>(self, text: &'de str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Borrowed(text)))
            }
            fn visit_str<E: de::Error>(self, text: &str) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text.to_owned())))
            }
            fn visit_string<E: de::Error>(self, text: String) -> Result<Text<'de>, E> {
                Ok(Text(Cow::Owned(text)))
            }
        }
        deserializer.deserialize_str(TextVisitor)
    }
}

/// A JSON object's entries in the event's order, without hashing; entries whose value is
/// `null` are left out.
struct Entries<'a, V>(Vec<(Text<'a>, V)>);

impl<'de: 'a, 'a, V: Deserialize<'de>> Deserialize<'de> for Entries<'a, V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct EntriesVisitor<'a, V>(PhantomData<(Text<'a>, V)>);
        impl<'de: 'a, 'a, V: Deserialize<'de>> Visitor<'de> for EntriesVisitor<'a, V> {
            type Value = Entries<'a, V>;
            fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
                formatter.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                // Capped: a hint comes from the input, and most entries are small.
                let mut entries = Vec::with_capacity(map.size_hint().unwrap_or(0).min(64));
                while let Some((key, value)) = map.next_entry::<Text<'a>, Option<V>>()? {
                    if let Some(value) = value {
                        entries.push((key, value));
                    }
                }
                Ok(Entries(entries))
            }
        }
        deserializer.deserialize_map(EntriesVisitor(PhantomData))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn script() -> Script {
        Script {
            filename: "/opt/hover/index.php".into(),
            document_root: "/var/task/public".into(),
            storage_path: "/tmp/storage".into(),
        }
    }

    fn parse(payload: &[u8]) -> Result<Event, ErrorResponse> {
        parse_event(payload, &script(), "request-1", Some("Root=1-abc"))
    }

    fn request(payload: &str) -> HttpRequest {
        match parse(payload.as_bytes()) {
            Ok(Event::Request(request)) => request,
            other => panic!("not a request: {other:?}"),
        }
    }

    fn request_from(event: serde_json::Value) -> HttpRequest {
        request(&event.to_string())
    }

    fn error(payload: &[u8]) -> String {
        let error = parse(payload).unwrap_err();
        assert_eq!(error.error_type, "Hover.InvalidEvent");
        error.error_message
    }

    /// The params whose name starts with `prefix`, for comparisons of a whole group.
    fn params_starting_with<'r>(request: &'r HttpRequest, prefix: &str) -> Vec<(&'r str, &'r str)> {
        let mut params: Vec<_> = request
            .params
            .iter()
            .filter(|(name, _)| name.starts_with(prefix))
            .map(|(name, value)| (name.as_ref(), value.as_str()))
            .collect();
        params.sort();
        params
    }

    fn assert_names_unique(request: &HttpRequest) {
        let mut names: Vec<&str> = request
            .params
            .iter()
            .map(|(name, _)| name.as_ref())
            .collect();
        names.sort();
        let count = names.len();
        names.dedup();
        assert_eq!(
            names.len(),
            count,
            "a param name repeats: {:?}",
            request.params
        );
    }

    /// A v2 event with the given headers and fields over a minimal GET.
    fn v2(extra: serde_json::Value) -> serde_json::Value {
        let mut event = json!({
            "version": "2.0",
            "rawPath": "/",
            "rawQueryString": "",
            "requestContext": {"http": {"method": "GET", "sourceIp": "1.2.3.4"}},
        });
        for (key, value) in extra.as_object().unwrap() {
            event[key] = value.clone();
        }
        event
    }

    /// A v1 event, likewise.
    fn v1(extra: serde_json::Value) -> serde_json::Value {
        let mut event = json!({
            "httpMethod": "GET",
            "path": "/",
            "requestContext": {"identity": {"sourceIp": "1.2.3.4"}},
        });
        for (key, value) in extra.as_object().unwrap() {
            event[key] = value.clone();
        }
        event
    }

    /// An ALB event, likewise.
    fn alb(extra: serde_json::Value) -> serde_json::Value {
        let mut event = json!({
            "httpMethod": "GET",
            "path": "/",
            "requestContext": {"elb": {"targetGroupArn": "arn"}},
        });
        for (key, value) in extra.as_object().unwrap() {
            event[key] = value.clone();
        }
        event
    }

    #[test]
    fn api_gateway_v1_sample() {
        let request = request(include_str!(
            "../../tests/fixtures/events/example-apigw-request.json"
        ));
        assert_eq!(
            request.source,
            Source::ApiGatewayV1 {
                multi_value_headers: true
            }
        );
        assert!(!request.is_head);
        assert_eq!(request.body, b"{\r\n\t\"a\": 1\r\n}");
        let expected = [
            ("GATEWAY_INTERFACE", "CGI/1.1"),
            ("SERVER_SOFTWARE", "hover"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("REQUEST_METHOD", "POST"),
            ("HTTPS", "on"),
            ("REQUEST_SCHEME", "https"),
            (
                "SERVER_NAME",
                "gy415nuibc.execute-api.us-east-1.amazonaws.com",
            ),
            ("SERVER_PORT", "443"),
            ("REMOTE_ADDR", "192.168.196.186"),
            ("SCRIPT_FILENAME", "/opt/hover/index.php"),
            ("SCRIPT_NAME", "/index.php"),
            ("DOCUMENT_ROOT", "/var/task/public"),
            ("DOCUMENT_URI", "/hello/world"),
            ("REQUEST_URI", "/hello/world?name=me"),
            ("QUERY_STRING", "name=me"),
            ("CONTENT_LENGTH", "13"),
            ("REDIRECT_STATUS", "200"),
            ("HOVER_STORAGE_PATH", "/tmp/storage"),
            ("LAMBDA_REQUEST_ID", "request-1"),
            ("_X_AMZN_TRACE_ID", "Root=1-abc"),
            ("CONTENT_TYPE", "application/json"),
        ];
        for (name, value) in expected {
            assert_eq!(request.param(name), Some(value), "{name}");
        }
        assert_eq!(
            params_starting_with(&request, "HTTP_"),
            vec![
                ("HTTP_ACCEPT", "*/*"),
                ("HTTP_ACCEPT_ENCODING", "gzip, deflate"),
                ("HTTP_CACHE_CONTROL", "no-cache"),
                ("HTTP_CLOUDFRONT_FORWARDED_PROTO", "https"),
                ("HTTP_CLOUDFRONT_IS_DESKTOP_VIEWER", "true"),
                ("HTTP_CLOUDFRONT_IS_MOBILE_VIEWER", "false"),
                ("HTTP_CLOUDFRONT_IS_SMARTTV_VIEWER", "false"),
                ("HTTP_CLOUDFRONT_IS_TABLET_VIEWER", "false"),
                ("HTTP_CLOUDFRONT_VIEWER_COUNTRY", "US"),
                ("HTTP_HEADERNAME", "headerValue"),
                (
                    "HTTP_HOST",
                    "gy415nuibc.execute-api.us-east-1.amazonaws.com"
                ),
                ("HTTP_POSTMAN_TOKEN", "9f583ef0-ed83-4a38-aef3-eb9ce3f7a57f"),
                ("HTTP_USER_AGENT", "PostmanRuntime/2.4.5"),
                (
                    "HTTP_VIA",
                    "1.1 d98420743a69852491bbdea73f7680bd.cloudfront.net (CloudFront)"
                ),
                (
                    "HTTP_X_AMZ_CF_ID",
                    "pn-PWIJc6thYnZm5P0NMgOUglL1DYtl0gdeJky8tqsg8iS_sgsKD1A=="
                ),
                ("HTTP_X_FORWARDED_FOR", "54.240.196.186, 54.182.214.83"),
                ("HTTP_X_FORWARDED_PORT", "443"),
                ("HTTP_X_FORWARDED_PROTO", "https"),
            ]
        );
        assert_eq!(request.params.len(), expected.len() + 18);
        assert_names_unique(&request);
    }

    #[test]
    fn api_gateway_v1_multi_value_sample_prefers_the_multi_value_fields() {
        let request = request(include_str!(
            "../../tests/fixtures/events/example-apigw-request-multi-value-parameters.json"
        ));
        assert_eq!(request.param("QUERY_STRING"), Some("name=me&name=me2"));
        assert_eq!(
            request.param("REQUEST_URI"),
            Some("/hello/world?name=me&name=me2")
        );
        // `headers` says "headerValue2" alone.
        assert_eq!(
            request.param("HTTP_HEADERNAME"),
            Some("headerValue, headerValue2")
        );
    }

    #[test]
    fn sam_local_rest_sample_is_https_with_its_forwarded_port() {
        let request = request(include_str!(
            "../../tests/fixtures/events/example-apigw-sam-rest-request.json"
        ));
        assert_eq!(
            request.source,
            Source::ApiGatewayV1 {
                multi_value_headers: true
            }
        );
        assert_eq!(request.param("REQUEST_METHOD"), Some("GET"));
        assert_eq!(request.param("REQUEST_URI"), Some("/test"));
        assert_eq!(request.param("QUERY_STRING"), Some(""));
        assert_eq!(request.param("CONTENT_LENGTH"), Some("0"));
        assert_eq!(request.param("CONTENT_TYPE"), None);
        assert!(request.body.is_empty());
        // API Gateway is always HTTPS, whatever X-Forwarded-Proto says.
        assert_eq!(request.param("HTTP_X_FORWARDED_PROTO"), Some("http"));
        assert_eq!(request.param("HTTPS"), Some("on"));
        assert_eq!(request.param("SERVER_PORT"), Some("3000"));
        assert_eq!(request.param("SERVER_NAME"), Some("127.0.0.1"));
        assert_eq!(request.param("HTTP_HOST"), Some("127.0.0.1:3000"));
        assert_eq!(request.param("REMOTE_ADDR"), Some("127.0.0.1"));
        assert_names_unique(&request);
    }

    #[test]
    fn api_gateway_v2_sample() {
        let request = request(include_str!(
            "../../tests/fixtures/events/example-apigw-v2-request-no-authorizer.json"
        ));
        assert_eq!(request.source, Source::ApiGatewayV2);
        let expected = [
            ("REQUEST_METHOD", "GET"),
            ("REQUEST_URI", "/"),
            ("DOCUMENT_URI", "/"),
            ("QUERY_STRING", ""),
            ("REMOTE_ADDR", "1.2.3.4"),
            (
                "SERVER_NAME",
                "aaaaaaaaaa.execute-api.us-west-2.amazonaws.com",
            ),
            ("SERVER_PORT", "443"),
            ("HTTPS", "on"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("CONTENT_LENGTH", "0"),
            (
                "HTTP_X_AMZN_TRACE_ID",
                "Root=1-5e9f0c65-1de4d666d4dd26aced652b6c",
            ),
            ("HTTP_USER_AGENT", "curl/7.58.0"),
        ];
        for (name, value) in expected {
            assert_eq!(request.param(name), Some(value), "{name}");
        }
        // The body's own length is CONTENT_LENGTH; the header is not passed again.
        assert_eq!(request.param("HTTP_CONTENT_LENGTH"), None);
        assert_names_unique(&request);
    }

    #[test]
    fn api_gateway_v2_samples_keep_the_raw_query_and_the_cookies() {
        let request = request(include_str!(
            "../../tests/fixtures/events/example-apigw-v2-request-multi-value-parameters.json"
        ));
        assert_eq!(
            request.param("QUERY_STRING"),
            Some("Parameter1=value1&Parameter1=value2")
        );
        assert_eq!(
            request.param("REQUEST_URI"),
            Some("/my/path?Parameter1=value1&Parameter1=value2")
        );
        assert_eq!(request.param("HTTP_COOKIE"), Some("cookie1; cookie2"));
        assert_eq!(request.param("HTTP_HEADER2"), Some("value1,value2"));
        // No Host header: the domain name.
        assert_eq!(
            request.param("SERVER_NAME"),
            Some("id.execute-api.us-east-1.amazonaws.com")
        );
        assert_eq!(request.param("HTTP_HOST"), None);
        assert_eq!(request.body, b"{\r\n\t\"a\": 1\r\n}");
        assert_eq!(request.param("CONTENT_LENGTH"), Some("13"));

        let request = request_v2_iam();
        assert_eq!(
            request.param("QUERY_STRING"),
            Some("parameter1=value1&parameter1=value2&parameter2=value")
        );
    }

    fn request_v2_iam() -> HttpRequest {
        request(include_str!(
            "../../tests/fixtures/events/example-apigw-v2-request-iam.json"
        ))
    }

    #[test]
    fn sam_local_http_api_sample_with_no_cookies() {
        let request = request(include_str!(
            "../../tests/fixtures/events/example-apigw-sam-http-request.json"
        ));
        assert_eq!(request.source, Source::ApiGatewayV2);
        assert_eq!(request.param("HTTP_COOKIE"), None);
        assert_eq!(request.param("REQUEST_URI"), Some("/dump?foo=bar"));
        assert_eq!(request.param("SERVER_NAME"), Some("127.0.0.1"));
        assert_eq!(request.param("SERVER_PORT"), Some("3000"));
        assert_eq!(request.param("REMOTE_ADDR"), Some("127.0.0.1"));
        assert_eq!(request.param("CONTENT_LENGTH"), Some("0"));
        assert_names_unique(&request);
    }

    #[test]
    fn alb_samples() {
        let request = request(include_str!(
            "../../tests/fixtures/events/example-alb-lambda-target-request-headers-only.json"
        ));
        assert_eq!(
            request.source,
            Source::Alb {
                multi_value_headers: false
            }
        );
        let expected = [
            ("REQUEST_METHOD", "GET"),
            ("REQUEST_URI", "/?key=hello"),
            ("QUERY_STRING", "key=hello"),
            ("REQUEST_SCHEME", "http"),
            ("SERVER_PORT", "80"),
            (
                "SERVER_NAME",
                "lambda-test-alb-1334523864.us-east-1.elb.amazonaws.com",
            ),
            ("REMOTE_ADDR", "25.12.198.67"),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("HTTP_X_MYHEADER", "123"),
        ];
        for (name, value) in expected {
            assert_eq!(request.param(name), Some(value), "{name}");
        }
        assert_eq!(request.param("HTTPS"), None);
        assert_names_unique(&request);

        let request = request_alb_multi_value();
        assert_eq!(
            request.source,
            Source::Alb {
                multi_value_headers: true
            }
        );
        assert_eq!(request.param("QUERY_STRING"), Some("key=hello"));
        assert_eq!(request.param("REMOTE_ADDR"), Some("72.21.198.67"));
        assert_eq!(request.body, b"Some text");
        assert_eq!(request.param("CONTENT_LENGTH"), Some("9"));
        assert_names_unique(&request);
    }

    fn request_alb_multi_value() -> HttpRequest {
        request(include_str!(
            "../../tests/fixtures/events/example-alb-lambda-target-request-multivalue-headers.json"
        ))
    }

    #[test]
    fn other_events_are_refused_naming_their_fields() {
        let message = error(include_bytes!(
            "../../tests/fixtures/events/example-apigw-websocket-request-without-method.json"
        ));
        assert!(
            message.starts_with("the event is not an HTTP request: "),
            "{message}"
        );
        assert!(
            message.contains("this one has the fields `headers`, `multiValueHeaders`"),
            "{message}"
        );
        let message = error(include_bytes!(
            "../../tests/fixtures/events/example-sqs-event.json"
        ));
        assert!(
            message.ends_with("this one has the fields `Records`"),
            "{message}"
        );
        let message = error(b"{}");
        assert!(message.ends_with("this one has no fields"), "{message}");
        // A v2 event without its method, and the cut list of a large object's fields.
        let message = error(br#"{"version": "2.0", "rawPath": "/"}"#);
        assert!(
            message.ends_with("the fields `version`, `rawPath`"),
            "{message}"
        );
        let many: serde_json::Map<String, serde_json::Value> = (0..30)
            .map(|index| (format!("{}{index}", "f".repeat(500)), json!(1)))
            .collect();
        let message = error(serde_json::Value::Object(many).to_string().as_bytes());
        assert!(message.ends_with("and 20 more"), "{message}");
        assert!(message.len() < 3000, "{} bytes", message.len());
    }

    #[test]
    fn malformed_events_are_explained_without_echoing_them() {
        assert!(error(b"not json").starts_with("the event is not valid JSON ("));
        assert!(error(b"{\"httpMethod\": \"GET\"").starts_with("the event is not valid JSON ("));
        assert!(error(b"").starts_with("the event is not valid JSON ("));
        assert!(error(b"[1, 2").starts_with("the event is not valid JSON ("));
        for (payload, kind) in [
            (&b" [\"2.0\", \"GET\"]"[..], "an array"),
            (b"\"GET /\"", "a string"),
            (b"-1", "a number"),
            (b"true", "a boolean"),
            (b"null", "null"),
        ] {
            let message = error(payload);
            assert!(
                message.starts_with(&format!("the event is {kind}, not an object")),
                "{message}"
            );
        }
        let message = error(br#"{"httpMethod": "GET", "headers": {"Accept": 3}}"#);
        assert!(
            message.contains("invalid type: integer `3`, expected a string"),
            "{message}"
        );
        // A long string where a map belongs: quoted, but cut short.
        let event = json!({"httpMethod": "GET", "headers": "x".repeat(100_000)}).to_string();
        let message = error(event.as_bytes());
        assert!(message.contains("invalid type: string \"xxx"), "{message}");
        assert!(message.len() < 400, "{} bytes", message.len());
        // Another type in a known field: refused, not taken for something else.
        assert!(error(br#"{"warmer": "yes"}"#).contains("expected a boolean"));
    }

    #[test]
    fn warmers() {
        let warmer = |event: serde_json::Value| parse(event.to_string().as_bytes()).unwrap();
        assert_eq!(
            warmer(json!({"warmer": true, "containers": 5})),
            Event::Warmer { containers: 5 }
        );
        for containers in [
            json!(null),
            json!(0),
            json!(-2),
            json!("3"),
            json!(2.5),
            json!([4]),
        ] {
            assert_eq!(
                warmer(json!({"warmer": true, "containers": containers})),
                Event::Warmer { containers: 1 },
                "{containers}"
            );
        }
        assert_eq!(
            warmer(json!({"warmer": true})),
            Event::Warmer { containers: 1 }
        );
        assert_eq!(
            warmer(json!({"warmer": true, "containers": u64::MAX})),
            Event::Warmer {
                containers: MAX_WARMER_CONTAINERS
            }
        );
        assert_eq!(warmer(json!({"warmer_ping": true})), Event::WarmerPing);
        assert!(error(br#"{"warmer": false}"#).starts_with("the event is not an HTTP request"));
    }

    #[test]
    fn the_method_is_upper_cased_and_must_be_a_token() {
        let request = request_from(v1(json!({"httpMethod": "patch"})));
        assert_eq!(request.param("REQUEST_METHOD"), Some("PATCH"));
        let request = request_from(v2(json!({"requestContext": {"http": {"method": "head"}}})));
        assert!(request.is_head);
        assert_eq!(request.param("REQUEST_METHOD"), Some("HEAD"));
        assert!(!request_from(alb(json!({}))).is_head);
        for method in ["", "GE T", "GET\r\nX", &"A".repeat(33)] {
            let message = error(v1(json!({"httpMethod": method})).to_string().as_bytes());
            assert!(message.contains("is not an HTTP method"), "{message}");
        }
    }

    #[test]
    fn the_path_is_encoded_where_a_uri_needs_it() {
        let cases = [
            ("/hello/world", "/hello/world"),
            ("/a b/é", "/a%20b/%C3%A9"),
            ("/what?/#frag", "/what%3F/%23frag"),
            ("/\"<>\\^`{|}[]", "/%22%3C%3E%5C%5E%60%7B%7C%7D%5B%5D"),
            ("/ctl\u{0}\r\n\u{7f}", "/ctl%00%0D%0A%7F"),
            // Already encoded, and what a path may hold: kept.
            (
                "/a%20b/%2F/~user/x.y_z-(1)!$&'*+,;=:@",
                "/a%20b/%2F/~user/x.y_z-(1)!$&'*+,;=:@",
            ),
            ("", "/"),
            ("relative", "/relative"),
        ];
        for (path, expected) in cases {
            let request = request_from(v1(json!({"path": path})));
            assert_eq!(request.param("DOCUMENT_URI"), Some(expected), "{path:?}");
            assert_eq!(request.param("REQUEST_URI"), Some(expected), "{path:?}");
            let request = request_from(v2(json!({"rawPath": path})));
            assert_eq!(request.param("REQUEST_URI"), Some(expected), "{path:?}");
            let request = request_from(alb(json!({"path": path})));
            assert_eq!(request.param("REQUEST_URI"), Some(expected), "{path:?}");
        }
        // v1: `path`, without the stage that `requestContext.path` has.
        let request = request_from(v1(json!({
            "path": "/users",
            "requestContext": {"path": "/prod/users"}
        })));
        assert_eq!(request.param("REQUEST_URI"), Some("/users"));
        // v2: `rawPath`, not `requestContext.http.path`.
        let request = request_from(v2(json!({
            "rawPath": "/a%2Fb",
            "requestContext": {"http": {"method": "GET", "path": "/a/b"}}
        })));
        assert_eq!(request.param("REQUEST_URI"), Some("/a%2Fb"));
    }

    #[test]
    fn api_gateway_v1_query_is_rebuilt_encoded_in_event_order() {
        let request = request_from(v1(json!({
            "queryStringParameters": {"z": "1", "a b": "c&d=é/", "safe-._~": "", "a": "2"}
        })));
        let query = "z=1&a%20b=c%26d%3D%C3%A9%2F&safe-._~=&a=2";
        assert_eq!(request.param("QUERY_STRING"), Some(query));
        assert_eq!(
            request.param("REQUEST_URI"),
            Some(format!("/?{query}").as_str())
        );
        let request = request_from(v1(json!({
            "queryStringParameters": {"tag": "b", "x": "1"},
            "multiValueQueryStringParameters": {"tag": ["a", "b"], "x": ["1"]}
        })));
        assert_eq!(request.param("QUERY_STRING"), Some("tag=a&tag=b&x=1"));
        let request = request_from(v1(json!({
            "queryStringParameters": null,
            "multiValueQueryStringParameters": null
        })));
        assert_eq!(request.param("QUERY_STRING"), Some(""));
    }

    #[test]
    fn alb_query_is_joined_as_received_never_encoded_twice() {
        let request = request_from(alb(json!({
            "queryStringParameters": {"q": "a%20b+c", "%C3%A9": "%2F"}
        })));
        assert_eq!(request.param("QUERY_STRING"), Some("q=a%20b+c&%C3%A9=%2F"));
        let request = request_from(alb(json!({
            "multiValueQueryStringParameters": {"q": ["a%20b", "c"], "z": [""]}
        })));
        assert_eq!(request.param("QUERY_STRING"), Some("q=a%20b&q=c&z="));
    }

    #[test]
    fn api_gateway_v2_query_is_the_raw_one_byte_for_byte() {
        let request = request_from(v2(json!({
            "rawQueryString": "b=2&a=1&a=%2F&flag&x=%zz",
            "queryStringParameters": {"a": "1,/", "b": "2"}
        })));
        assert_eq!(
            request.param("QUERY_STRING"),
            Some("b=2&a=1&a=%2F&flag&x=%zz")
        );
        assert_eq!(
            request.param("REQUEST_URI"),
            Some("/?b=2&a=1&a=%2F&flag&x=%zz")
        );
        for query in ["a=1\r\nX: y", "a=\n", "a=\u{0}"] {
            let message = error(v2(json!({"rawQueryString": query})).to_string().as_bytes());
            assert_eq!(
                message,
                "the query string holds a NUL, CR or LF, which no HTTP request can"
            );
            let event = alb(json!({"queryStringParameters": {"a": query}}));
            assert_eq!(error(event.to_string().as_bytes()), message);
        }
        // v1's are encoded.
        let request = request_from(v1(json!({"queryStringParameters": {"a": "1\r\n\u{0}"}})));
        assert_eq!(request.param("QUERY_STRING"), Some("a=1%0D%0A%00"));
        let request = request_from(v2(json!({"rawQueryString": null})));
        assert_eq!(request.param("QUERY_STRING"), Some(""));
        assert_eq!(request.param("REQUEST_URI"), Some("/"));
    }

    #[test]
    fn headers_become_http_params() {
        let request = request_from(v1(json!({
            "headers": {
                "x-custom-thing": "1",
                "Accept": "text/html",
                "accept": "application/json",
                "Content-Type": "multipart/form-data; boundary=x",
                "Content-Length": "999",
                "Empty": "",
                "Gone": null,
            }
        })));
        assert_eq!(
            params_starting_with(&request, "HTTP_"),
            vec![
                ("HTTP_ACCEPT", "text/html, application/json"),
                ("HTTP_EMPTY", ""),
                ("HTTP_X_CUSTOM_THING", "1"),
            ]
        );
        assert_eq!(
            request.param("CONTENT_TYPE"),
            Some("multipart/form-data; boundary=x")
        );
        assert_eq!(request.param("CONTENT_LENGTH"), Some("0"));
        assert_names_unique(&request);
        // Multi-value: each header's values joined, and `headers` not read at all.
        let request = request_from(v1(json!({
            "headers": {"Accept": "b", "Only-Single": "x"},
            "multiValueHeaders": {"Accept": ["a", "b"], "X-Empty": []}
        })));
        assert_eq!(
            params_starting_with(&request, "HTTP_"),
            vec![("HTTP_ACCEPT", "a, b")]
        );
        // Escaped JSON strings are read like any other.
        let request =
            self::request(r#"{"httpMethod": "GET", "headers": {"X-\u0041": "caf\u00e9 \"q\""}}"#);
        assert_eq!(request.param("HTTP_X_A"), Some("café \"q\""));
    }

    #[test]
    fn unsafe_headers_are_dropped() {
        let request = request_from(alb(json!({
            "headers": {
                "X_Forwarded_For": "6.6.6.6",
                "X-Forwarded-For": "1.1.1.1",
                "Content_Type": "text/evil",
                "Proxy": "http://evil:8080",
                "pRoXy": "http://evil:8080",
                "X-Split": "a\r\nInjected: yes",
                "X-Nul": "a\u{0}b",
                "X-Line": "a\nb",
                "Bad Name": "1",
                "Colon:": "1",
                "Tëst": "1",
                "": "1",
                "X-Tab": "a\tb",
                "Kept": "ok"
            }
        })));
        assert_eq!(
            params_starting_with(&request, "HTTP_"),
            vec![
                ("HTTP_KEPT", "ok"),
                ("HTTP_X_FORWARDED_FOR", "1.1.1.1"),
                ("HTTP_X_TAB", "a\tb"),
            ]
        );
        assert_eq!(request.param("CONTENT_TYPE"), None);
        assert_eq!(request.param("REMOTE_ADDR"), Some("1.1.1.1"));
        // A multi-value header with one bad value is dropped whole.
        let request = request_from(alb(json!({
            "multiValueHeaders": {"X-Forwarded-For": ["1.1.1.1", "2.2.2.2\r\n"], "Kept": ["ok"]}
        })));
        assert_eq!(
            params_starting_with(&request, "HTTP_"),
            vec![("HTTP_KEPT", "ok")]
        );
        assert_eq!(request.param("REMOTE_ADDR"), None);
    }

    #[test]
    fn no_header_makes_a_param_other_than_http_or_content_type() {
        let fixed: Vec<String> = request_from(v1(json!({})))
            .params
            .into_iter()
            .map(|(name, _)| name.into_owned())
            .collect();
        let headers: serde_json::Map<String, serde_json::Value> = [
            "Https",
            "Server-Name",
            "Remote-Addr",
            "Script-Filename",
            "Request-Uri",
            "Content-Length",
            "Redirect-Status",
            "Lambda-Request-Id",
            "Http-Host",
            "Query-String",
        ]
        .iter()
        .map(|name| (name.to_string(), json!("spoofed")))
        .collect();
        let request = request_from(v1(json!({"headers": headers})));
        for (name, value) in &request.params {
            if fixed.iter().any(|fixed| fixed == name) {
                assert_ne!(value, "spoofed", "{name}");
            } else {
                assert!(name.starts_with("HTTP_"), "{name}");
            }
        }
        assert_eq!(request.param("HTTP_HTTPS"), Some("spoofed"));
        assert_eq!(request.param("HTTPS"), Some("on"));
        assert_names_unique(&request);
    }

    #[test]
    fn the_last_proxy_header_value_counts() {
        let request = request_from(alb(json!({
            "multiValueHeaders": {
                "X-Forwarded-For": ["6.6.6.6, 1.1.1.1", " 2.2.2.2 , 3.3.3.3 "],
                "X-Forwarded-Proto": ["http", "https"],
                "X-Forwarded-Port": ["80", "8443"],
                "Host": ["example.com:8443"],
            }
        })));
        assert_eq!(request.param("REMOTE_ADDR"), Some("3.3.3.3"));
        assert_eq!(
            request.param("HTTP_X_FORWARDED_FOR"),
            Some("6.6.6.6, 1.1.1.1,  2.2.2.2 , 3.3.3.3 ")
        );
        assert_eq!(request.param("HTTPS"), Some("on"));
        assert_eq!(request.param("REQUEST_SCHEME"), Some("https"));
        assert_eq!(request.param("SERVER_PORT"), Some("8443"));
        assert_eq!(request.param("SERVER_NAME"), Some("example.com"));
        assert_eq!(request.param("HTTP_HOST"), Some("example.com:8443"));
        let request = request_from(alb(json!({
            "headers": {"x-forwarded-proto": "https, http", "x-forwarded-port": "not-a-port"}
        })));
        assert_eq!(request.param("HTTPS"), None);
        assert_eq!(request.param("REQUEST_SCHEME"), Some("http"));
        assert_eq!(request.param("SERVER_PORT"), Some("80"));
        let request = request_from(alb(json!({
            "headers": {"x-forwarded-proto": "HTTPS", "x-forwarded-port": "0"}
        })));
        assert_eq!(request.param("HTTPS"), Some("on"));
        assert_eq!(request.param("SERVER_PORT"), Some("443"));
    }

    #[test]
    fn server_name_is_the_host_without_its_port() {
        let name =
            |event: serde_json::Value| request_from(event).param("SERVER_NAME").map(str::to_owned);
        assert_eq!(
            name(v2(json!({"headers": {"host": "example.com"}}))).as_deref(),
            Some("example.com")
        );
        assert_eq!(
            name(v2(json!({"headers": {"host": "[::1]:8080"}}))).as_deref(),
            Some("[::1]")
        );
        assert_eq!(
            name(v2(json!({
                "headers": {"host": ":80"},
                "requestContext": {"domainName": "api.example.com", "http": {"method": "GET"}}
            })))
            .as_deref(),
            Some("api.example.com")
        );
        assert_eq!(name(alb(json!({}))).as_deref(), Some("localhost"));
    }

    #[test]
    fn server_protocol_comes_from_the_event() {
        let protocol = |event: serde_json::Value| {
            request_from(event)
                .param("SERVER_PROTOCOL")
                .map(str::to_owned)
        };
        assert_eq!(
            protocol(v2(
                json!({"requestContext": {"http": {"method": "GET", "protocol": "HTTP/2.0"}}})
            ))
            .as_deref(),
            Some("HTTP/2.0")
        );
        assert_eq!(
            protocol(v1(json!({"requestContext": {"protocol": "HTTP/1.0"}}))).as_deref(),
            Some("HTTP/1.0")
        );
        assert_eq!(
            protocol(v1(
                json!({"requestContext": {"protocol": "HTTP/1.1\r\nX: y"}})
            ))
            .as_deref(),
            Some("HTTP/1.1")
        );
        assert_eq!(
            protocol(v1(json!({"requestContext": {}}))).as_deref(),
            Some("HTTP/1.1")
        );
    }

    #[test]
    fn cookies() {
        // v2: `cookies` replaces the Cookie header that Function URLs send too.
        let request = request_from(v2(json!({
            "cookies": ["a=1", "b=2", "bad=\r\n"],
            "headers": {"cookie": "a=1; b=2; stale=1"}
        })));
        assert_eq!(request.param("HTTP_COOKIE"), Some("a=1; b=2"));
        assert_names_unique(&request);
        let request = request_from(v2(json!({"headers": {"cookie": "a=1"}})));
        assert_eq!(request.param("HTTP_COOKIE"), Some("a=1"));
        // v1 and ALB: the header as sent, several joined as cookies are.
        let request = request_from(v1(json!({"multiValueHeaders": {"Cookie": ["a=1", "b=2"]}})));
        assert_eq!(request.param("HTTP_COOKIE"), Some("a=1; b=2"));
        let request = request_from(alb(
            json!({"headers": {"cookie": "a=1; b=2"}, "cookies": ["x=1"]}),
        ));
        assert_eq!(request.param("HTTP_COOKIE"), Some("a=1; b=2"));
    }

    #[test]
    fn remote_addr_per_source() {
        let request = request_from(v1(json!({"headers": {"X-Forwarded-For": "9.9.9.9"}})));
        assert_eq!(request.param("REMOTE_ADDR"), Some("1.2.3.4"));
        let request = request_from(v2(json!({"headers": {"x-forwarded-for": "9.9.9.9"}})));
        assert_eq!(request.param("REMOTE_ADDR"), Some("1.2.3.4"));
        let request = request_from(v2(
            json!({"requestContext": {"http": {"method": "GET", "sourceIp": "a\u{0}b"}}}),
        ));
        assert_eq!(request.param("REMOTE_ADDR"), None);
        assert_eq!(request_from(alb(json!({}))).param("REMOTE_ADDR"), None);
        assert_eq!(
            request_from(v1(json!({"requestContext": {}}))).param("REMOTE_ADDR"),
            None
        );
        assert_eq!(request_from(v1(json!({}))).param("REMOTE_PORT"), None);
    }

    #[test]
    fn bodies() {
        let request = request_from(v2(
            json!({"body": "aGVsbG8gd29ybGQ=", "isBase64Encoded": true}),
        ));
        assert_eq!(request.body, b"hello world");
        assert_eq!(request.param("CONTENT_LENGTH"), Some("11"));
        let request = request_from(v2(
            json!({"body": "aGVsbG8gd29ybGQ", "isBase64Encoded": true}),
        ));
        assert_eq!(request.body, b"hello world", "missing padding");
        let request = request_from(alb(json!({"body": "/wCAgQ==", "isBase64Encoded": true})));
        assert_eq!(request.body, [0xff, 0x00, 0x80, 0x81]);
        assert_eq!(request.param("CONTENT_LENGTH"), Some("4"));
        let request = request_from(v1(json!({"body": "aGVsbG8=", "isBase64Encoded": false})));
        assert_eq!(request.body, b"aGVsbG8=");
        let request = request_from(v1(json!({"body": "é", "isBase64Encoded": null})));
        assert_eq!(request.body, "é".as_bytes());
        assert_eq!(request.param("CONTENT_LENGTH"), Some("2"));
        let multipart = "--x\r\nContent-Disposition: form-data; name=\"a\"\r\n\r\n1\r\n--x--\r\n";
        let request = request_from(v1(json!({
            "body": multipart,
            "headers": {"content-type": "multipart/form-data; boundary=x"}
        })));
        assert_eq!(request.body, multipart.as_bytes());
        assert_eq!(
            request.param("CONTENT_TYPE"),
            Some("multipart/form-data; boundary=x")
        );
        let message = error(
            v2(json!({"body": "not base64!", "isBase64Encoded": true}))
                .to_string()
                .as_bytes(),
        );
        assert!(
            message.starts_with("the body is marked `isBase64Encoded` but is not base64"),
            "{message}"
        );
    }

    #[test]
    fn script_and_invocation_params() {
        let request = request_from(v2(json!({"rawPath": "/a b"})));
        assert_eq!(
            request.param("SCRIPT_FILENAME"),
            Some("/opt/hover/index.php")
        );
        assert_eq!(request.param("SCRIPT_NAME"), Some("/index.php"));
        assert_eq!(request.param("DOCUMENT_ROOT"), Some("/var/task/public"));
        assert_eq!(request.param("DOCUMENT_URI"), Some("/a%20b"));
        assert_eq!(request.param("GATEWAY_INTERFACE"), Some("CGI/1.1"));
        assert_eq!(request.param("SERVER_SOFTWARE"), Some("hover"));
        assert_eq!(request.param("REDIRECT_STATUS"), Some("200"));
        assert_eq!(request.param("LAMBDA_REQUEST_ID"), Some("request-1"));
        assert_eq!(request.param("_X_AMZN_TRACE_ID"), Some("Root=1-abc"));
        assert_eq!(request.param("PATH_INFO"), None);
        let Ok(Event::Request(request)) =
            parse_event(v2(json!({})).to_string().as_bytes(), &script(), "r", None)
        else {
            panic!("not a request");
        };
        assert_eq!(request.param("_X_AMZN_TRACE_ID"), None);
    }

    #[test]
    fn a_large_event_is_taken_whole() {
        let headers: serde_json::Map<String, serde_json::Value> = (0..10_000)
            .map(|index| (format!("X-H{index}"), json!("v")))
            .collect();
        let body = "b".repeat(4 * 1024 * 1024);
        let request = request_from(v1(json!({"headers": headers, "body": body})));
        assert_eq!(request.body.len(), 4 * 1024 * 1024);
        assert_eq!(request.param("CONTENT_LENGTH"), Some("4194304"));
        assert_eq!(params_starting_with(&request, "HTTP_X_H").len(), 10_000);
        assert_names_unique(&request);
    }
}
