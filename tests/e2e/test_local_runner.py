"""The local runner (scripts/local.py): real HTTP requests through its front door to the
example app behind the runtime under the RIE, checked from the client side; its artisan
and queue commands; and Ctrl-C stopping everything it started."""

import hashlib
import http.client
import json
import os
import pathlib
import re
import shutil
import signal
import tempfile
import time
import urllib.parse

import pytest

from conftest import ROOT
from local_runner import LocalRunner, session_processes


@pytest.fixture(scope="module")
def runner():
    runner = LocalRunner()
    yield runner
    runner.stop()


def request(runner, method, target, body=None, headers=None):
    """One request on a connection of its own; returns the response and its body."""
    connection = http.client.HTTPConnection("127.0.0.1", runner.port, timeout=60)
    try:
        connection.request(method, target, body=body, headers=headers or {})
        response = connection.getresponse()
        return response, response.read()
    finally:
        connection.close()


def echo(runner, method, target, body=None, headers=None):
    response, data = request(runner, method, target, body, headers)
    assert response.status == 200, data
    return json.loads(data)


def test_startup_prints_where_it_listens_and_writes_the_state_file(runner):
    output = runner.output()
    assert f"Hover local: http://127.0.0.1:{runner.port} (app: " in output
    state = json.loads((pathlib.Path(tempfile.gettempdir()) / f"hover-local-{runner.port}.json").read_text())
    assert {kind: function["name"] for kind, function in state["functions"].items()} == {
        "http": "example-local-http",
        "cli": "example-local-cli",
        "queue": "example-default-queue",
    }
    assert state["queue"]["arn"] == "arn:aws:sqs:us-east-1:123456789012:default"


def test_get(runner):
    response, data = request(runner, "GET", "/")
    assert response.status == 200
    assert data == b"Hello from Hover"
    assert response.getheader("Content-Type").startswith("text/html")
    assert response.getheader("Content-Length") == str(len(data))
    assert "[http] " in runner.output()  # the runtime's log reaches the terminal, prefixed


def test_post_form(runner):
    form = "name=Ada+Lovelace&tags%5B%5D=a&tags%5B%5D=b"
    seen = echo(runner, "POST", "/echo/some/path?page=2", form, {"Content-Type": "application/x-www-form-urlencoded"})
    assert seen["method"] == "POST"
    assert seen["path"] == "echo/some/path"
    assert seen["input"] == {"page": "2", "name": "Ada Lovelace", "tags": ["a", "b"]}
    assert seen["body_length"] == len(form)
    assert seen["ip"] == "127.0.0.1"
    assert seen["full_url"].endswith(f"127.0.0.1:{runner.port}/echo/some/path?page=2")


def test_json_body(runner):
    document = {"name": "Grace", "languages": ["COBOL", "FLOW-MATIC"], "nested": {"ok": True}, "text": "café ✓"}
    seen = echo(runner, "POST", "/echo", json.dumps(document).encode(), {"Content-Type": "application/json"})
    assert seen["json"] == document


def test_query_arrays_and_the_raw_query_string(runner):
    seen = echo(runner, "GET", "/echo?a[]=1&a[]=2&b[c]=3&q=a%20b%26c")
    assert seen["query_string"] == "a[]=1&a[]=2&b[c]=3&q=a%20b%26c"
    assert seen["query"] == {"a": ["1", "2"], "b": {"c": "3"}, "q": "a b&c"}


def test_repeated_headers_are_joined_and_forwarding_headers_added(runner):
    connection = http.client.HTTPConnection("127.0.0.1", runner.port, timeout=60)
    try:
        connection.putrequest("GET", "/echo")
        connection.putheader("X-Repeat", "first")
        connection.putheader("X-Repeat", "second")
        connection.putheader("User-Agent", "local-runner-test")
        connection.endheaders()
        seen = json.loads(connection.getresponse().read())
    finally:
        connection.close()
    assert seen["headers"]["x-repeat"] == ["first, second"]
    assert seen["headers"]["x-forwarded-proto"] == ["http"]
    assert seen["headers"]["x-forwarded-port"] == [str(runner.port)]
    assert seen["server"]["HTTP_USER_AGENT"] == "local-runner-test"
    assert seen["server"]["REMOTE_ADDR"] == "127.0.0.1"


def test_several_cookies_each_way(runner):
    seen = echo(runner, "GET", "/echo", headers={"Cookie": "theme=dark; session=abc=def; empty="})
    assert seen["cookies"] == {"theme": "dark", "session": "abc=def", "empty": ""}
    assert "cookie" not in seen["headers"] or seen["headers"]["cookie"] == ["theme=dark; session=abc=def; empty="]

    response, data = request(runner, "GET", "/cookies")
    assert data == b"three cookies"
    cookies = response.msg.get_all("Set-Cookie")
    assert [cookie.split(";")[0] for cookie in cookies] == ["first=one", "second=two", "third=three"]


def multipart(fields, files):
    boundary = "hover-local-boundary-7d1"
    parts = []
    for name, value in fields.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"\r\n\r\n{value}\r\n'.encode())
    for name, (filename, content_type, content) in files.items():
        parts.append(f'--{boundary}\r\nContent-Disposition: form-data; name="{name}"; filename="{filename}"\r\nContent-Type: {content_type}\r\n\r\n'.encode())
        parts.append(content + b"\r\n")
    parts.append(f"--{boundary}--\r\n".encode())
    return f"multipart/form-data; boundary={boundary}", b"".join(parts)


def test_multipart_file_upload(runner):
    content = bytes(range(256)) * 700 + os.urandom(4096)
    content_type, body = multipart({"title": "a binary file"}, {"upload": ("photo.bin", "application/octet-stream", content)})
    seen = echo(runner, "POST", "/upload", body, {"Content-Type": content_type})
    assert seen["files"] == {
        "upload": {"name": "photo.bin", "size": len(content), "sha256": hashlib.sha256(content).hexdigest(), "type": "application/octet-stream"}
    }
    assert seen["input"] == {"title": "a binary file"}


def test_binary_download(runner):
    response, data = request(runner, "GET", "/download/70000")
    assert response.status == 200
    assert response.getheader("Content-Type") == "application/octet-stream"
    assert response.getheader("Content-Disposition") == 'attachment; filename="bytes.bin"'
    assert data == (bytes(range(256)) * 274)[:70000]


def test_binary_body_round_trip(runner):
    content = bytes(range(256)) * 8
    response, data = request(runner, "POST", "/mirror", content, {"Content-Type": "application/octet-stream"})
    assert response.status == 200
    assert data == content


def test_not_found(runner):
    response, _ = request(runner, "GET", "/no/such/page")
    assert response.status == 404


def test_head(runner):
    response, data = request(runner, "HEAD", "/")
    assert response.status == 200
    assert data == b""


def test_keep_alive_connection_serves_several_requests(runner):
    connection = http.client.HTTPConnection("127.0.0.1", runner.port, timeout=60)
    try:
        for number in range(3):
            connection.request("GET", f"/echo?n={number}")
            response = connection.getresponse()
            assert json.loads(response.read())["query"] == {"n": str(number)}
    finally:
        connection.close()


def test_session_form_redirects_to_the_front_door_over_http(runner):
    """The notes form: CSRF token and session cookie from the page, posted back; Laravel's
    redirect (https://, as API Gateway is HTTPS) comes back as http:// to the front door."""
    response, page = request(runner, "GET", "/notes")
    cookies = "; ".join(cookie.split(";")[0] for cookie in response.msg.get_all("Set-Cookie"))
    token = re.search(rb'name="_token" value="([^"]+)"', page).group(1).decode()
    assert f'action="http://127.0.0.1:{runner.port}/notes"'.encode() in page
    form = urllib.parse.urlencode({"_token": token, "note": "from the client"})
    response, _ = request(runner, "POST", "/notes", form, {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookies})
    assert response.status == 302
    assert response.getheader("Location") == f"http://127.0.0.1:{runner.port}/notes"
    cookies = "; ".join(cookie.split(";")[0] for cookie in response.msg.get_all("Set-Cookie"))
    response, page = request(runner, "GET", "/notes", headers={"Cookie": cookies})
    assert b'<p id="note">from the client</p>' in page


def test_an_invocation_error_is_a_502_with_the_error(runner):
    response, data = request(runner, "GET", "/bytes/7000000")
    assert response.status == 502
    error = json.loads(data)
    assert error["errorType"] == "Hover.ResponseTooLarge", error


def test_a_request_over_lambdas_payload_limit_is_a_413(runner):
    response, data = request(runner, "POST", "/mirror", b"x" * (5 * 1024 * 1024), {"Content-Type": "text/plain"})
    assert response.status == 413
    assert b"Lambda takes at most 6291456" in data


def test_artisan_prints_the_output_and_exits_with_the_commands_code(runner):
    finished = runner.run("artisan", "hover:greet World --times=2")
    assert finished.returncode == 0, finished.stderr
    assert finished.stdout.decode().count("World") == 2

    finished = runner.run("artisan", "hover:exit-with 3")
    assert finished.returncode == 3

    finished = runner.run("artisan", "no:such-command")
    assert finished.returncode == 1
    assert b"no:such-command" in finished.stdout


def test_queue_sends_a_job_made_by_the_app(runner):
    finished = runner.run("queue", "--job", "Succeeds", "from-local")
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout) == {"batchItemFailures": []}


def test_queue_sends_a_raw_payload(runner):
    made = runner.run("artisan", "example:queue-payload Succeeds raw-body")
    assert made.returncode == 0
    finished = runner.run("queue", "--body", made.stdout.decode().strip())
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout) == {"batchItemFailures": []}


def test_commands_without_a_server_say_so():
    finished = LocalRunner.run_without_server("artisan", "list")
    assert finished.returncode != 0
    assert b"start `local.py serve" in finished.stderr


def test_another_app_by_path_without_queues(tmp_path):
    """--app: any Laravel app; its manifest names the functions; no queue entry, no queue
    function. The caller's AWS_* and HOVER_* variables, and -e ones, reach the runtimes."""
    app = tmp_path / "shop"
    shutil.copytree(ROOT / "example-app", app)
    manifest = json.loads((app / "hover_runtime" / "manifest.json").read_text())
    manifest["name"] = "shop"
    del manifest["queue"]
    (app / "hover_runtime" / "manifest.json").write_text(json.dumps(manifest))
    environment = {**os.environ, "AWS_ENDPOINT_URL_SQS": "http://127.0.0.1:9", "HOVER_FUNCTION_TYPE": "queue"}
    runner = LocalRunner("--app", str(app), "-e", "SHOP_COLOUR=teal", environment=environment)
    try:
        assert f"(app: {app})" in runner.output()
        state = json.loads((pathlib.Path(tempfile.gettempdir()) / f"hover-local-{runner.port}.json").read_text())
        assert {kind: function["name"] for kind, function in state["functions"].items()} == {"http": "shop-local-http", "cli": "shop-local-cli"}
        assert request(runner, "GET", "/")[1] == b"Hello from Hover"
        finished = runner.run("artisan", "hover:env SHOP_COLOUR AWS_ENDPOINT_URL_SQS AWS_LAMBDA_FUNCTION_NAME")
        assert finished.returncode == 0, finished.stdout
        seen = json.loads(finished.stdout)
        assert seen["SHOP_COLOUR"]["getenv"] == "teal"
        assert seen["AWS_ENDPOINT_URL_SQS"]["getenv"] == "http://127.0.0.1:9"
        assert seen["AWS_LAMBDA_FUNCTION_NAME"]["getenv"] == "shop-local-cli"
        finished = runner.run("queue", "--body", "{}")
        assert finished.returncode != 0
        assert b"no queue" in finished.stderr
    finally:
        runner.stop()
    assert runner.process.returncode == 0


def test_ctrl_c_stops_everything():
    runner = LocalRunner()
    try:
        assert request(runner, "GET", "/")[0].status == 200
        assert runner.run("artisan", "hover:greet Bye").returncode == 0
        sessions = runner.sessions()
        assert len(sessions) == 3
        running = session_processes(sessions)
        assert any("php-fpm: master" in line for line in running), running
        assert any("bootstrap.php" in line for line in running), running
        state = pathlib.Path(tempfile.gettempdir()) / f"hover-local-{runner.port}.json"
        assert state.exists() and runner.scratch.exists()
    finally:
        runner.stop(signal.SIGINT)
    assert runner.process.returncode == 0, runner.output()
    deadline = time.monotonic() + 5
    while session_processes(sessions) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert session_processes(sessions) == []
    assert not runner.scratch.exists()
    assert not state.exists()
    assert runner.output().endswith("hover local: stopped")
