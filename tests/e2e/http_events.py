"""HTTP events as API Gateway (REST v1, HTTP API v2 / Function URLs) and ALB send them, for
the end-to-end tests and the benchmark. Shapes follow AWS's documented samples."""

import base64
import urllib.parse

REQUEST_CONTEXT_V1 = {
    "accountId": "123456789012",
    "apiId": "1234567890",
    "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
    "httpMethod": "GET",
    "identity": {"sourceIp": "203.0.113.7", "userAgent": "pytest"},
    "path": "/production/",
    "protocol": "HTTP/1.1",
    "requestId": "c6af9ac6-7b61-11e6-9a41-93e8deadbeef",
    "resourcePath": "/{proxy+}",
    "stage": "production",
}


def _body(body, binary):
    if body is None:
        return None, False
    if isinstance(body, str):
        body = body.encode()
    if binary:
        return base64.b64encode(body).decode(), True
    return body.decode(), False


def v2(method="GET", path="/", query="", headers=None, cookies=None, body=None, binary=False, source_ip="198.51.100.9"):
    """An HTTP API (payload 2.0) or Function URL event. `query` is the raw query string."""
    encoded_body, is_base64 = _body(body, binary)
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": {"host": "abc123.execute-api.us-east-1.amazonaws.com", "x-forwarded-proto": "https", "x-forwarded-port": "443", **(headers or {})},
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "abc123",
            "domainName": "abc123.execute-api.us-east-1.amazonaws.com",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1", "sourceIp": source_ip, "userAgent": "pytest"},
            "requestId": "JKJaXmPLvHcESHA=",
            "routeKey": "$default",
            "stage": "$default",
            "timeEpoch": 1583348638390,
        },
        "isBase64Encoded": is_base64,
    }
    if query:
        event["queryStringParameters"] = {k: ",".join(v) for k, v in urllib.parse.parse_qs(query).items()}
    if cookies is not None:
        event["cookies"] = cookies
    if encoded_body is not None:
        event["body"] = encoded_body
    return event


def v1(method="GET", path="/", query=None, headers=None, multi_value_headers=None, body=None, binary=False, source_ip="203.0.113.7"):
    """An API Gateway REST (payload 1.0) event. `query` is a list of (name, value) pairs."""
    encoded_body, is_base64 = _body(body, binary)
    headers = {"Host": "abc123.execute-api.us-east-1.amazonaws.com", "X-Forwarded-Proto": "https", "X-Forwarded-Port": "443", **(headers or {})}
    multi = {name: [value] for name, value in headers.items()}
    for name, values in (multi_value_headers or {}).items():
        multi[name] = values
        headers[name] = values[-1]
    single_query, multi_query = None, None
    if query:
        single_query, multi_query = {}, {}
        for name, value in query:
            single_query[name] = value
            multi_query.setdefault(name, []).append(value)
    context = {**REQUEST_CONTEXT_V1, "httpMethod": method, "identity": {"sourceIp": source_ip}}
    return {
        "resource": "/{proxy+}",
        "path": path,
        "httpMethod": method,
        "headers": headers,
        "multiValueHeaders": multi,
        "queryStringParameters": single_query,
        "multiValueQueryStringParameters": multi_query,
        "pathParameters": {"proxy": path.lstrip("/")},
        "stageVariables": None,
        "requestContext": context,
        "body": encoded_body,
        "isBase64Encoded": is_base64,
    }


def alb(method="GET", path="/", query=None, headers=None, multi_value=False, body=None, binary=False, client_ip="192.0.2.44"):
    """An ALB target event; `query` pairs are percent-encoded as ALB passes them on. With
    `multi_value`, the target group has multi-value headers on."""
    encoded_body, is_base64 = _body(body, binary)
    headers = {
        "host": "lambda-alb-123578498.us-east-1.elb.amazonaws.com",
        "x-forwarded-for": f"198.51.100.1, {client_ip}",
        "x-forwarded-port": "443",
        "x-forwarded-proto": "https",
        **(headers or {}),
    }
    event = {
        "requestContext": {"elb": {"targetGroupArn": "arn:aws:elasticloadbalancing:us-east-1:123456789012:targetgroup/lambda-279XGJDqGZ5rsrHC2Fjr/49e9d65c45c6791a"}},
        "httpMethod": method,
        "path": path,
        "body": encoded_body if encoded_body is not None else "",
        "isBase64Encoded": is_base64,
    }
    encoded_query = [(urllib.parse.quote(n, safe=""), urllib.parse.quote(v, safe="")) for n, v in (query or [])]
    if multi_value:
        event["multiValueHeaders"] = {name: value if isinstance(value, list) else [value] for name, value in headers.items()}
        multi = {}
        for name, value in encoded_query:
            multi.setdefault(name, []).append(value)
        event["multiValueQueryStringParameters"] = multi
    else:
        event["headers"] = {name: value[-1] if isinstance(value, list) else value for name, value in headers.items()}
        event["queryStringParameters"] = dict(encoded_query)
    return event


def body_of(response):
    """The response body's bytes."""
    body = response.get("body") or ""
    return base64.b64decode(body) if response.get("isBase64Encoded") else body.encode()


def header(response, name):
    """A response header's values, whatever the format (v2 `headers` + `cookies`, or
    `multiValueHeaders`, or `headers`)."""
    name = name.lower()
    if name == "set-cookie" and "cookies" in response:
        return list(response["cookies"])
    for field in ("multiValueHeaders", "headers"):
        for key, value in (response.get(field) or {}).items():
            if key.lower() == name:
                return value if isinstance(value, list) else [value]
    return []
