"""The warmer: `{"warmer": true, "containers": N}` makes N-1 concurrent Invoke calls of the
function with `{"warmer_ping": true}`, against a small local endpoint that records them in
place of Lambda's API; a ping on a fresh container goes through php-fpm and holds."""

import http.server
import json
import threading
import time
import urllib.parse

import pytest

from conftest import AWS_TEST_CREDENTIALS
from http_events import v2

HTTP_FUNCTION = "example-production-http"


class InvokeRecorder(http.server.ThreadingHTTPServer):
    """Lambda's Invoke API as far as the warmer uses it: records each call, answers after
    `delay` seconds, and counts how many were in flight at once."""

    def __init__(self, delay):
        self.calls, self.delay, self.in_flight, self.most_in_flight = [], delay, 0, 0
        self.lock = threading.Lock()
        super().__init__(("127.0.0.1", 0), Handler)

    @property
    def endpoint(self):
        return f"http://127.0.0.1:{self.server_address[1]}"


class Handler(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        server = self.server
        body = self.rfile.read(int(self.headers["Content-Length"]))
        with server.lock:
            server.calls.append({"path": urllib.parse.unquote(self.path), "type": self.headers.get("X-Amz-Invocation-Type"), "body": body})
            server.in_flight += 1
            server.most_in_flight = max(server.most_in_flight, server.in_flight)
        time.sleep(server.delay)
        with server.lock:
            server.in_flight -= 1
        answer = b'{"warm":true,"fresh":true}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *arguments):
        pass


@pytest.fixture
def recorder():
    server = InvokeRecorder(delay=0.3)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()


def test_the_warmer_invokes_its_function_n_minus_1_times_at_once(start_runtime, recorder):
    runtime = start_runtime(AWS_LAMBDA_FUNCTION_NAME=HTTP_FUNCTION, AWS_ENDPOINT_URL_LAMBDA=recorder.endpoint, **AWS_TEST_CREDENTIALS)
    started = time.monotonic()
    answer = runtime.invoke({"warmer": True, "containers": 5})
    elapsed = time.monotonic() - started
    assert answer == {"warmed": 4, "requested": 4, "failed": 0}
    assert len(recorder.calls) == 4
    for call in recorder.calls:
        assert call["path"].startswith("/2015-03-31/functions/arn:aws:lambda:") and call["path"].endswith(f":function:{HTTP_FUNCTION}/invocations"), call
        assert call["type"] == "RequestResponse"
        assert json.loads(call["body"]) == {"warmer_ping": True}
    assert recorder.most_in_flight == 4, "the pings were in flight together"
    assert elapsed < 4 * 0.3


def test_one_container_makes_no_call_and_failures_are_not_fatal(start_runtime, recorder):
    runtime = start_runtime(AWS_LAMBDA_FUNCTION_NAME=HTTP_FUNCTION, AWS_ENDPOINT_URL_LAMBDA="http://127.0.0.1:9", **AWS_TEST_CREDENTIALS)
    assert runtime.invoke({"warmer": True, "containers": 1}) == {"warmed": 0, "requested": 0, "failed": 0}
    assert runtime.invoke({"warmer": True, "containers": 3}) == {"warmed": 0, "requested": 2, "failed": 2}
    assert "WARN" in runtime.log()
    assert runtime.invoke(v2(path="/"))["body"] == "Hello from Hover"


def test_a_ping_on_a_fresh_container_goes_through_php_fpm_and_holds(start_runtime):
    runtime = start_runtime(AWS_LAMBDA_FUNCTION_NAME=HTTP_FUNCTION)
    timings = []
    answers = []
    for _ in range(2):
        started = time.monotonic()
        answers.append(runtime.invoke({"warmer_ping": True}))
        timings.append(time.monotonic() - started)
    assert answers == [{"warm": True, "fresh": True}, {"warm": True, "fresh": False}]
    assert all(elapsed >= 0.05 for elapsed in timings)
    # The fresh ping's request went through the front controller: the session cookie's
    # files are Laravel's own work, under the storage path.
    assert list((runtime.storage / "framework" / "sessions").iterdir()), "Laravel handled a request"
