"""The HTTP function end to end: events from each source through the runtime, php-fpm and
the example Laravel app, under AWS's RIE; what Laravel saw, and what the caller gets."""

import base64
import json
import os
import signal
import threading
import time
import uuid

import pytest

from conftest import EXAMPLE_APP, Runtime, process_is_gone
from http_events import alb, body_of, header, v1, v2

HTTP_FUNCTION = "example-production-http"


@pytest.fixture(scope="module")
def http(tmp_path_factory):
    runtime = Runtime(tmp_path_factory.mktemp("http"), AWS_LAMBDA_FUNCTION_NAME=HTTP_FUNCTION)
    yield runtime
    runtime.stop()


def echo(runtime, event):
    response = runtime.invoke(event)
    assert response["statusCode"] == 200, response
    return json.loads(body_of(response))


SOURCES = {
    "v2": lambda **kw: v2(**kw),
    "v1": lambda **kw: v1(**kw),
    "alb": lambda **kw: alb(**kw),
    "alb-multi": lambda **kw: alb(multi_value=True, **kw),
}


@pytest.mark.parametrize("source", SOURCES)
def test_laravel_sees_the_request_each_source_sends(http, source):
    form = "name=Ada+Lovelace&tags%5B%5D=a&tags%5B%5D=b"
    query = [("page", "2"), ("q", "a b&c")]
    headers = {"Content-Type": "application/x-www-form-urlencoded", "X-Custom-Header": "custom value"}
    if source == "v2":
        event = v2("post", "/echo/some/path", query="page=2&q=a%20b%26c", headers={k.lower(): v for k, v in headers.items()}, body=form)
    else:
        event = SOURCES[source](method="POST", path="/echo/some/path", query=query, headers=headers, body=form)
    seen = echo(http, event)
    assert seen["method"] == "POST"
    assert seen["path"] == "echo/some/path"
    assert seen["query"] == {"page": "2", "q": "a b&c"}
    assert seen["query_string"] == "page=2&q=a%20b%26c"
    assert seen["input"] == {"page": "2", "q": "a b&c", "name": "Ada Lovelace", "tags": ["a", "b"]}
    assert seen["headers"]["x-custom-header"] == ["custom value"]
    assert seen["secure"] is True
    host = "abc123.execute-api.us-east-1.amazonaws.com" if source in ("v1", "v2") else "lambda-alb-123578498.us-east-1.elb.amazonaws.com"
    assert seen["url"] == f"https://{host}/echo/some/path"
    assert seen["ip"] == {"v2": "198.51.100.9", "v1": "203.0.113.7"}.get(source, "192.0.2.44")
    server = seen["server"]
    assert server["SCRIPT_NAME"] == "/index.php"
    assert server["DOCUMENT_ROOT"] == str(EXAMPLE_APP / "public")
    assert server["REQUEST_URI"] == "/echo/some/path?page=2&q=a%20b%26c"
    assert server["CONTENT_LENGTH"] == str(len(form))
    assert server["SERVER_PORT"] == "443"
    assert server["HTTPS"] == "on"


def test_a_v2_raw_query_string_reaches_php_byte_for_byte(http):
    raw = "a=1&a=2&sig=abc%2Fdef%3D&list[]=x&list[]=y&empty=&flag&%C3%A9t%C3%A9=%E2%82%AC"
    seen = echo(http, v2(path="/echo", query=raw))
    assert seen["query_string"] == raw
    assert seen["query"]["list"] == ["x", "y"]
    assert seen["query"]["a"] == "2"
    assert seen["query"]["été"] == "€"
    assert seen["full_url"].startswith("https://abc123.execute-api.us-east-1.amazonaws.com/echo?")


def test_v1_repeated_parameters_keep_every_value_in_event_order(http):
    seen = echo(http, v1(path="/echo", query=[("list[]", "b"), ("list[]", "a"), ("x", "é/?")]))
    assert seen["query_string"] == "list%5B%5D=b&list%5B%5D=a&x=%C3%A9%2F%3F"
    assert seen["query"] == {"list": ["b", "a"], "x": "é/?"}


def test_alb_parameters_arrive_encoded_once(http):
    seen = echo(http, alb(path="/echo", query=[("q", "100%"), ("r", "a+b c")]))
    assert seen["query"] == {"q": "100%", "r": "a+b c"}
    assert seen["query_string"] == "q=100%25&r=a%2Bb%20c"


def test_a_path_with_spaces_and_unicode_is_encoded_for_laravel(http):
    seen = echo(http, v2(path="/echo/caf\u00e9 menu"))
    assert seen["path"] == "echo/caf%C3%A9%20menu"
    assert seen["decoded_path"] == "echo/café menu"
    assert seen["server"]["REQUEST_URI"] == "/echo/caf%C3%A9%20menu"


def test_json_body(http):
    payload = {"user": {"name": "Grace", "langs": ["COBOL", "FLOW-MATIC"]}, "n": 3}
    seen = echo(http, v2("POST", "/echo", headers={"content-type": "application/json"}, body=json.dumps(payload)))
    assert seen["json"] == payload
    assert seen["input"] == payload


def test_v2_cookies_replace_the_cookie_header(http):
    seen = echo(http, v2(path="/echo", headers={"cookie": "stale=1"}, cookies=["theme=dark", "session=abc=def"]))
    assert seen["cookies"] == {"theme": "dark", "session": "abc=def"}


@pytest.mark.parametrize("source", ["v1", "alb"])
def test_v1_and_alb_pass_the_cookie_header(http, source):
    seen = echo(http, SOURCES[source](path="/echo", headers={"Cookie": "theme=dark; lang=fr"}))
    assert seen["cookies"] == {"theme": "dark", "lang": "fr"}


def test_a_proxy_header_from_the_client_is_not_passed_to_php(http):
    seen = echo(http, v2(path="/echo", headers={"proxy": "http://evil.example:8080"}))
    assert "HTTP_PROXY" not in seen["server"]


def multipart(fields, files):
    boundary = "----hover" + uuid.uuid4().hex
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, content, content_type) in files.items():
        parts.append(
            f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode()
            + content
            + b"\r\n"
        )
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


@pytest.mark.parametrize("source", ["v2", "v1", "alb"])
def test_an_uploaded_file_from_a_base64_multipart_body(http, source):
    import hashlib

    content = os.urandom(70_000) + b"\x00\xff end"
    content_type, body = multipart({"title": "holiday"}, {"photo": ("beach.jpg", content, "image/jpeg")})
    headers = {"Content-Type": content_type}
    if source == "v2":
        event = v2("POST", "/echo", headers={"content-type": content_type}, body=body, binary=True)
    else:
        event = SOURCES[source](method="POST", path="/echo", headers=headers, body=body, binary=True)
    seen = echo(http, event)
    assert seen["input"] == {"title": "holiday"}
    assert seen["files"]["photo"] == {"name": "beach.jpg", "size": len(content), "md5": hashlib.md5(content).hexdigest(), "type": "image/jpeg"}
    assert seen["server"]["CONTENT_LENGTH"] == str(len(body))


@pytest.mark.parametrize("source", ["v2", "v1", "alb"])
def test_a_png_round_trips_byte_for_byte(http, source):
    png = b"\x89PNG\r\n\x1a\n" + os.urandom(200_000)
    headers = {"Content-Type": "image/png"}
    if source == "v2":
        event = v2("POST", "/mirror", headers={"content-type": "image/png"}, body=png, binary=True)
    else:
        event = SOURCES[source](method="POST", path="/mirror", headers=headers, body=png, binary=True)
    response = http.invoke(event)
    assert response["statusCode"] == 200
    assert response["isBase64Encoded"] is True
    assert body_of(response) == png
    assert header(response, "content-type") == ["image/png"]


def test_a_text_body_that_is_not_utf8_comes_back_base64_intact(http):
    response = http.invoke(v2(path="/latin1"))
    assert response["isBase64Encoded"] is True
    assert body_of(response) == b"caf\xe9 cr\xe8me"


def test_a_utf8_text_body_is_not_base64(http):
    response = http.invoke(v2(path="/"))
    assert response["isBase64Encoded"] is False
    assert response["body"] == "Hello from Hover"


@pytest.mark.parametrize("source", ["v2", "v1", "alb-multi"])
def test_every_set_cookie_reaches_the_client(http, source):
    response = http.invoke(SOURCES[source](path="/cookies"))
    cookies = header(response, "set-cookie")
    assert [c.split(";")[0] for c in cookies] == ["first=one", "second=two", "third=three"]
    if source == "v2":
        assert "set-cookie" not in {k.lower() for k in response["headers"]}
    else:
        assert "cookies" not in response


def test_head_has_no_body_and_keeps_the_apps_content_length(http):
    response = http.invoke(v2("HEAD", "/bytes/1234"))
    assert response["statusCode"] == 200
    assert body_of(response) == b""
    assert header(response, "content-length") == ["1234"]


@pytest.mark.parametrize("source", ["v2", "v1", "alb"])
def test_error_statuses(http, source):
    make = SOURCES[source]
    missing = http.invoke(make(path="/no/such/route"))
    assert missing["statusCode"] == 404
    expired = http.invoke(make(method="POST", path="/form", body="name=x", headers={"Content-Type": "application/x-www-form-urlencoded"}))
    assert expired["statusCode"] == 419
    failed = http.invoke(make(path="/fail"))
    assert failed["statusCode"] == 500
    if source == "alb":
        assert missing["statusDescription"] == "404 Not Found"
        assert expired["statusDescription"].startswith("419 ")
        assert failed["statusDescription"] == "500 Internal Server Error"
    else:
        assert "statusDescription" not in failed
    assert "the route failed on purpose" in http.log()


def test_a_route_writing_300_kb_to_stderr_answers_and_logs_it_with_the_request_id(http):
    response = http.invoke(v2(path="/stderr/300"))
    assert response["statusCode"] == 200
    assert body_of(response) == b"wrote 300 KB to stderr"
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        lines = [line for line in http.log().splitlines() if "e" * 1000 in line]
        if len(lines) >= 300:
            break
        time.sleep(0.1)
    assert len(lines) >= 300
    assert all("undefined" not in line.split("\t")[1] for line in lines if "\t" in line), lines[:2]


def test_a_response_over_6_mb_is_a_clear_error_and_the_next_request_works(http):
    status, response = http.invoke_raw(json.dumps(v2(path=f"/bytes/{7 * 1024 * 1024}")).encode())
    assert response["errorType"] == "Hover.ResponseTooLarge", response
    assert "7340" in response["errorMessage"]
    assert http.invoke(v2(path="/"))["body"] == "Hello from Hover"


def test_session_cookie_round_trip(http):
    first = http.invoke(v2(path="/session"))
    cookies = [c.split(";")[0] for c in header(first, "set-cookie")]
    assert any(c.startswith("hover_example_session=") for c in cookies)
    second = http.invoke(v2(path="/session", cookies=cookies))
    assert json.loads(body_of(second)) == {"visits": 2}


def test_an_event_that_is_not_http_is_refused_and_the_next_works(http):
    status, response = http.invoke_raw(json.dumps({"hello": "world"}).encode())
    assert response["errorType"] == "Hover.InvalidEvent"
    status, response = http.invoke_raw(b"{not json")
    assert response["errorType"] == "Hover.InvalidEvent"
    assert http.invoke(v2(path="/"))["statusCode"] == 200


def test_the_trace_id_reaches_php(http):
    seen = echo(http, v2(path="/echo"))
    trace = seen["server"].get("_X_AMZN_TRACE_ID")
    if trace is not None:
        assert trace.startswith("Root=")


def worker_and_master(runtime):
    seen = json.loads(body_of(runtime.invoke(v2(path="/pid"))))
    return seen["pid"], seen["parent"]


def test_php_fpm_killed_between_invocations_is_restarted(http):
    worker, master = worker_and_master(http)
    os.kill(master, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while not process_is_gone(master) and time.monotonic() < deadline:
        time.sleep(0.02)
    response = http.invoke(v2(path="/"))
    assert response["statusCode"] == 200
    new_worker, new_master = worker_and_master(http)
    assert new_master != master
    assert process_is_gone(worker)


def test_php_fpm_killed_during_an_invocation_answers_an_error_then_serves(http):
    worker, master = worker_and_master(http)
    result = {}
    thread = threading.Thread(target=lambda: result.update(answer=http.invoke_raw(json.dumps(v2(path="/sleep/3000")).encode())))
    thread.start()
    time.sleep(0.5)
    os.kill(worker, signal.SIGKILL)
    thread.join(timeout=20)
    status, answer = result["answer"]
    assert answer["errorType"] == "Hover.PhpFpmFailed", answer
    assert http.invoke(v2(path="/"))["statusCode"] == 200


def test_a_request_past_the_deadline_is_answered_and_the_next_works(start_runtime):
    runtime = start_runtime(AWS_LAMBDA_FUNCTION_NAME=HTTP_FUNCTION, function_timeout=3)
    assert runtime.invoke(v2(path="/"))["statusCode"] == 200
    started = time.monotonic()
    status, answer = runtime.invoke_raw(json.dumps(v2(path="/sleep/10000")).encode())
    elapsed = time.monotonic() - started
    assert answer["errorType"] == "Hover.RequestTimeout", answer
    assert "GET /sleep/10000" in answer["errorMessage"]
    assert 1.8 < elapsed < 2.6, "stopped a second before the deadline"
    assert runtime.invoke(v2(path="/"))["body"] == "Hello from Hover"


def test_worker_recycling_never_costs_a_request(start_runtime, tmp_path):
    runtime_dir = tmp_path / "hover_runtime"
    runtime_dir.mkdir()
    (runtime_dir / "manifest.json").write_text((EXAMPLE_APP / "hover_runtime" / "manifest.json").read_text())
    (runtime_dir / "php-fpm.conf").write_text("; recycle often\npm.max_requests = 25\nlisten = /tmp/elsewhere.sock\n")
    runtime = start_runtime(AWS_LAMBDA_FUNCTION_NAME=HTTP_FUNCTION, HOVER_RUNTIME_DIR=runtime_dir)
    workers = set()
    failures = []
    for number in range(1000):
        response = runtime.invoke(v2(path="/pid"))
        if response.get("statusCode") != 200:
            failures.append((number, response))
        else:
            workers.add(json.loads(body_of(response))["pid"])
    assert failures == []
    assert len(workers) >= 39  # 1000 / 25: each worker was recycled
    assert "listen = /tmp/elsewhere.sock" in runtime.log()


def test_maintenance_mode_is_checked_before_the_application_loads(http):
    """`php artisan down` writes storage/framework/maintenance.php, under the runtime's
    storage path; the front controller runs it first, as public/index.php does."""
    assert http.invoke(v2(path="/"))["statusCode"] == 200
    maintenance = http.storage / "framework" / "maintenance.php"
    maintenance.write_text("<?php\nhttp_response_code(503);\necho 'Down for maintenance';\nexit;\n")
    try:
        response = http.invoke(v2(path="/"))
        assert response["statusCode"] == 503
        assert body_of(response) == b"Down for maintenance"
    finally:
        maintenance.unlink()
    assert http.invoke(v2(path="/"))["statusCode"] == 200
