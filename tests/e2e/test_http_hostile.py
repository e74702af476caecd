"""The HTTP function under attack: hostile events, misbehaving routes, php-fpm killed, hung or
misconfigured. Every invocation must get exactly one answer, and the next one must be served."""

import json
import os
import signal
import subprocess
import threading
import time

import pytest

from conftest import EXAMPLE_APP, process_is_gone
from http_events import alb, body_of, header, v1, v2

HTTP_FUNCTION = "example-production-http"


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    """One HTTP function for the module, with a 3 s timeout: its stop point is 2.4 s in."""
    from conftest import Runtime

    runtime = Runtime(tmp_path_factory.mktemp("hostile"), function_timeout=3, AWS_LAMBDA_FUNCTION_NAME=HTTP_FUNCTION)
    yield runtime
    runtime.stop()


def invoke(runtime, event):
    """The answer to an event: the response, or the error (`errorType`)."""
    payload = event if isinstance(event, bytes) else json.dumps(event).encode()
    status, answer = runtime.invoke_raw(payload)
    assert isinstance(answer, dict), answer
    return answer


def state(runtime, event=None):
    response = invoke(runtime, event or v2(path="/hostile/state"))
    assert response["statusCode"] == 200, response
    return json.loads(body_of(response))


def assert_serves(runtime):
    response = invoke(runtime, v2(path="/"))
    assert response.get("body") == "Hello from Hover", response


def worker_and_master(runtime):
    seen = json.loads(body_of(invoke(runtime, v2(path="/pid"))))
    return seen["pid"], seen["parent"]


def wait_until(predicate, seconds=5.0):
    deadline = time.monotonic() + seconds
    while not predicate():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


# State from one invocation to the next.


def test_nothing_a_route_changes_reaches_the_next_request(hostile):
    before = state(hostile)
    polluted = invoke(hostile, v2(path="/hostile/pollute"))
    assert polluted["statusCode"] == 200 and header(polluted, "x-hostile-stale") == ["1"]
    after = state(hostile)
    assert after["pid"] == before["pid"], "the same worker served both"
    assert after["env"] is False and after["server_env"] is None
    assert after["memory_limit"] == before["memory_limit"]
    assert after["ob_level"] == before["ob_level"]
    assert "x-hostile-stale" not in {name.lower() for name in state_response_headers(hostile)}


def state_response_headers(runtime):
    return invoke(runtime, v2(path="/hostile/state"))["headers"]


def test_params_of_an_earlier_request_are_not_inherited(hostile):
    first = state(hostile, alb(path="/hostile/state", headers={"x-hostile-leak": "1", "content-type": "text/evil"}))
    assert first["leak_header"] == "1" and first["content_type"] == "text/evil" and first["https"] == "on"
    second = state(hostile, alb(path="/hostile/state", headers={"x-forwarded-proto": "http"}, client_ip="192.0.2.99"))
    assert second["pid"] == first["pid"]
    assert second["leak_header"] is None
    assert second["content_type"] is None
    assert second["https"] is None
    assert second["remote_addr"] == "192.0.2.99"


# Routes that end or fail in odd ways.


def test_exit_and_die_mid_response_answer_what_was_written(hostile):
    exited = invoke(hostile, v2(path="/hostile/exit"))
    assert exited["statusCode"] == 200
    assert header(exited, "x-before-exit") == ["yes"]
    assert exited["body"] == "partial output"
    died = invoke(hostile, v2(path="/hostile/die"))
    assert (died["statusCode"], died["body"]) == (200, "died")
    assert_serves(hostile)


def test_memory_exhaustion_and_a_fatal_error_answer_500_and_the_worker_serves_on(hostile):
    worker, _ = worker_and_master(hostile)
    assert invoke(hostile, v2(path="/hostile/memory"))["statusCode"] == 500
    assert invoke(hostile, v2(path="/hostile/fatal"))["statusCode"] == 500
    assert worker_and_master(hostile)[0] == worker, "no restart was needed"
    assert "Allowed memory size of 33554432 bytes exhausted" in hostile.log()
    assert_serves(hostile)


def test_a_header_after_output_does_not_lose_the_body(hostile):
    response = invoke(hostile, v2(path="/hostile/header-after-output"))
    assert response["statusCode"] == 200
    assert response["body"] == "early output"


@pytest.mark.parametrize("status", ["banana", "0", "999", "-1"])
def test_a_status_line_that_is_no_status_is_an_invalid_response(hostile, status):
    answer = invoke(hostile, v2(path=f"/hostile/status/{status}"))
    assert answer.get("errorType") == "Hover.InvalidResponse", answer
    assert f"`Status: {status}`" in answer["errorMessage"]
    assert_serves(hostile)


def test_odd_but_valid_statuses(hostile):
    padded = invoke(hostile, v2(path="/hostile/status/%20204"))
    assert (padded["statusCode"], padded["body"]) == (204, "odd status")
    # PHP itself ignores http_response_code(0).
    zero = invoke(hostile, v2(path="/hostile/response-code-zero"))
    assert (zero["statusCode"], zero["body"]) == (200, "code zero")
    empty = invoke(hostile, alb(path="/hostile/empty"))
    assert (empty["statusCode"], empty["statusDescription"], empty["body"], empty["isBase64Encoded"]) == (204, "204 No Content", "", False)


@pytest.mark.parametrize("source", ["v2", "v1", "alb-multi"])
def test_header_injection_fails_and_every_mixed_case_set_cookie_arrives(hostile, source):
    make = {"v2": v2, "v1": v1, "alb-multi": lambda **kw: alb(multi_value=True, **kw)}[source]
    response = invoke(hostile, make(path="/hostile/header-injection"))
    assert json.loads(response["body"]) == ["ErrorException"] * 3, "PHP refuses CR, LF and NUL in header()"
    assert header(response, "x-injected") == []
    assert header(response, "x-binary") == ["caf\ufffd \ufffd"]
    assert sorted(header(response, "set-cookie")) == ["lower=2", "mixed=1", "upper=3"]
    if source == "v2":
        assert not any(name.lower() == "set-cookie" for name in response["headers"])


def test_output_around_the_capture_stays_out_of_the_response(hostile):
    response = invoke(hostile, v2(path="/hostile/stdout"))
    assert response["body"] == "through php://output;after stdout"
    assert wait_until(lambda: "written to the worker's stdout" in hostile.log())
    assert_serves(hostile)


def test_an_error_log_line_is_logged_once(hostile):
    marker = "hostile error_log line"
    before = hostile.log().count(marker)
    invoke(hostile, v2(path="/hostile/stdout"))
    time.sleep(0.3)
    assert hostile.log().count(marker) - before == 1


# Inputs at and past the limits.


def test_a_header_too_large_for_fastcgi_is_refused_without_restarting_php_fpm(hostile):
    worker, master = worker_and_master(hostile)
    answer = invoke(hostile, v2(path="/echo", headers={"x-big": "a" * 70_000}))
    assert answer.get("errorType") == "Hover.InvalidEvent", answer
    assert "HTTP_X_BIG" in answer["errorMessage"]
    assert worker_and_master(hostile) == (worker, master)
    assert "php-fpm is restarted" not in hostile.log()
    # Just under a record's size, and thousands of headers, reach PHP whole.
    seen = json.loads(body_of(invoke(hostile, v2(path="/echo", headers={"x-big": "b" * 65_000}))))
    assert seen["headers"]["x-big"] == ["b" * 65_000]
    many = {f"x-h{index}": f"v{index}" for index in range(5000)}
    seen = json.loads(body_of(invoke(hostile, v2(path="/echo", headers=many))))
    assert all(seen["headers"][name] == [value] for name, value in many.items())


def test_methods(hostile):
    seen = json.loads(body_of(invoke(hostile, v2(method="get", path="/echo"))))
    assert seen["method"] == "GET"
    assert invoke(hostile, v2(method="PURGE", path="/echo"))["statusCode"] == 405
    for method in ["GE T", "", "GET\r\n", "A" * 40]:
        answer = invoke(hostile, v2(method=method, path="/echo"))
        assert answer.get("errorType") == "Hover.InvalidEvent", (method, answer)
    assert_serves(hostile)


def test_odd_paths_never_change_the_script_php_fpm_runs(hostile):
    front_controller = os.path.join(os.path.dirname(__file__), "..", "..", "php", "index.php")
    for path, laravel_path in [
        ("/echo/../../etc/passwd", "echo/../../etc/passwd"),
        ("echo/no-slash", "echo/no-slash"),
        ("//echo//double", None),
        ("/echo/%2e%2e/%2e%2e/x", "echo/%2e%2e/%2e%2e/x"),
        ("/echo/a\u0000b", "echo/a%00b"),
    ]:
        response = invoke(hostile, v2(path=path))
        if laravel_path is None:
            assert response["statusCode"] in (200, 404), (path, response)
            continue
        assert response["statusCode"] == 200, (path, response)
        seen = json.loads(body_of(response))
        assert seen["path"] == laravel_path, path
        assert os.path.realpath(seen["server"]["SCRIPT_FILENAME"]) == os.path.realpath(front_controller)
        assert seen["server"]["DOCUMENT_ROOT"] == str(EXAMPLE_APP / "public")
    for path in ["", "/"]:
        assert invoke(hostile, v2(path=path)).get("body") == "Hello from Hover", repr(path)
    assert invoke(hostile, v1(path="/../index.php"))["statusCode"] == 404


def test_events_that_are_no_request_get_one_error_each_and_the_next_is_served(hostile):
    payloads = [
        b"",
        b"null",
        b"[]",
        b'"GET /"',
        b"{not json",
        json.dumps({"Records": [{"messageId": "1", "eventSource": "aws:sqs", "body": "x"}]}).encode(),
        json.dumps({"command": "list"}).encode(),
        json.dumps({"version": "2.0", "rawPath": "/"}).encode(),
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"httpMethod":"GET","path":"/","headers":{"a":' + b"[" * 5000 + b"]" * 5000 + b"}}",
        json.dumps(v2(path="/echo", query="a=1\r\nX-Injected: yes")).encode(),
        json.dumps(v2(path="/echo", query="a=\u0000")).encode(),
        json.dumps({**v2("POST", "/echo", body="not base64!"), "isBase64Encoded": True}).encode(),
    ]
    for payload in payloads:
        answer = invoke(hostile, payload)
        assert answer.get("errorType") == "Hover.InvalidEvent", (payload[:80], answer)
    assert "`command`" in invoke(hostile, payloads[6])["errorMessage"]
    assert_serves(hostile)


def test_missing_and_null_fields_are_a_request_all_the_same(hostile):
    seen = json.loads(body_of(invoke(hostile, {**v2(path="/echo"), "headers": None})))
    assert seen["path"] == "echo"
    event = v1(path="/echo")
    event.update(requestContext=None, headers=None, multiValueHeaders=None, body=None)
    seen = json.loads(body_of(invoke(hostile, event)))
    assert (seen["ip"], seen["url"]) == (None, "https://localhost/echo")
    # A header that could split a line is dropped, the others kept.
    seen = json.loads(body_of(invoke(hostile, v2(path="/echo", headers={"x-split": "a\r\nX-Injected: yes", "x-kept": "ok"}))))
    assert "x-split" not in seen["headers"] and "x-injected" not in seen["headers"]
    assert seen["headers"]["x-kept"] == ["ok"]


def test_a_body_just_under_6_mb_reaches_php_whole(hostile):
    import hashlib

    body = os.urandom(3 * 1024 * 1024).hex()[: 6 * 1024 * 1024 - 4096]
    seen = json.loads(body_of(invoke(hostile, v2("POST", "/echo", headers={"content-type": "text/plain"}, body=body))))
    assert seen["body_length"] == len(body)
    assert seen["body_md5"] == hashlib.md5(body.encode()).hexdigest()


def test_a_base64_response_at_the_6_mb_boundary(hostile):
    # 4,718,000 bytes are 6,290,668 in base64, with room for the rest of the response;
    # 4,719,000 bytes are 6,292,000: more than Lambda takes.
    fits = invoke(hostile, v2(path="/hostile/binary/4718000"))
    assert fits.get("isBase64Encoded") is True, {k: v for k, v in fits.items() if k != "body"}
    assert body_of(fits) == b"\xff" * 4_718_000
    answer = invoke(hostile, v2(path="/hostile/binary/4719000"))
    assert answer.get("errorType") == "Hover.ResponseTooLarge", {k: v for k, v in answer.items() if k != "body"}
    assert_serves(hostile)


@pytest.mark.parametrize("containers", [-5, 0, "lots", None, 1e30, True, [3]])
def test_a_warmer_with_absurd_containers_warms_this_one_only(hostile, containers):
    answer = invoke(hostile, {"warmer": True, "containers": containers})
    assert answer == {"warmed": 0, "requested": 0, "failed": 0}


def test_a_warmer_ping_on_a_fresh_container_fills_opcache_once(start_runtime):
    runtime = start_runtime(AWS_LAMBDA_FUNCTION_NAME=HTTP_FUNCTION)
    assert invoke(runtime, {"warmer_ping": True}) == {"warm": True, "fresh": True}
    assert invoke(runtime, {"warmer_ping": True}) == {"warm": True, "fresh": False}
    assert_serves(runtime)


# php-fpm hung, killed, or outlived.


def test_a_stopped_worker_times_out_at_the_stop_point_and_php_fpm_is_restarted(hostile):
    worker, master = worker_and_master(hostile)
    os.kill(worker, signal.SIGSTOP)
    try:
        started = time.monotonic()
        answer = invoke(hostile, v2(path="/"))
        elapsed = time.monotonic() - started
    finally:
        try:
            os.kill(worker, signal.SIGCONT)
        except ProcessLookupError:
            pass
    assert answer.get("errorType") == "Hover.RequestTimeout", answer
    assert 1.8 < elapsed < 2.95, elapsed
    assert worker_and_master(hostile)[1] != master
    assert wait_until(lambda: process_is_gone(worker) and process_is_gone(master))


def test_a_hung_master_with_no_worker_times_out_and_php_fpm_is_restarted(hostile):
    worker, master = worker_and_master(hostile)
    os.kill(master, signal.SIGSTOP)
    os.kill(worker, signal.SIGKILL)
    try:
        answer = invoke(hostile, v2(path="/"))
    finally:
        try:
            os.kill(master, signal.SIGCONT)
        except ProcessLookupError:
            pass
    assert answer.get("errorType") == "Hover.RequestTimeout", answer
    assert worker_and_master(hostile)[1] != master
    assert wait_until(lambda: process_is_gone(master))


def test_php_fpm_killed_between_requests_costs_nothing(hostile):
    worker, master = worker_and_master(hostile)
    os.kill(master, signal.SIGKILL)
    os.kill(worker, signal.SIGKILL)
    assert wait_until(lambda: process_is_gone(master) and process_is_gone(worker))
    assert_serves(hostile)
    assert worker_and_master(hostile)[1] != master


def test_php_fpm_killed_as_a_request_starts_costs_at_most_that_request(hostile):
    """A kill that lands while the request is sent is a crash mid-request: the connection
    is closed before any answer, as when a worker dies running a script, so the request is
    answered with an error, never sent again (it may have run); the next one is served."""
    worker, master = worker_and_master(hostile)
    os.kill(master, signal.SIGKILL)
    os.kill(worker, signal.SIGKILL)
    first = invoke(hostile, v2(path="/"))
    assert first.get("body") == "Hello from Hover" or first.get("errorType") == "Hover.PhpFpmFailed", first
    assert_serves(hostile)
    assert worker_and_master(hostile)[1] != master


def php_fpm_processes(master):
    """The master and its workers, by parent."""
    listed = subprocess.run(["ps", "-eo", "pid=,ppid="], capture_output=True, text=True, check=True).stdout
    return {master} | {int(pid) for pid, ppid in (line.split() for line in listed.splitlines()) if int(ppid) == master}


def test_php_fpm_does_not_outlive_a_killed_runtime(start_runtime):
    runtime = start_runtime(AWS_LAMBDA_FUNCTION_NAME=HTTP_FUNCTION)
    worker, master = worker_and_master(runtime)
    processes = php_fpm_processes(master)
    assert worker in processes
    os.kill(runtime.pid(), signal.SIGKILL)
    assert wait_until(lambda: all(process_is_gone(pid) for pid in processes)), [p for p in processes if not process_is_gone(p)]


def test_php_fpm_does_not_outlive_the_rie(start_runtime):
    runtime = start_runtime(AWS_LAMBDA_FUNCTION_NAME=HTTP_FUNCTION)
    worker, master = worker_and_master(runtime)
    processes = php_fpm_processes(master)
    runtime.stop()
    assert wait_until(lambda: all(process_is_gone(pid) for pid in processes))


# A hostile php-fpm.conf.


def runtime_with_fpm_conf(start_runtime, tmp_path, conf):
    runtime_dir = tmp_path / "hover_runtime"
    runtime_dir.mkdir(exist_ok=True)
    (runtime_dir / "manifest.json").write_text((EXAMPLE_APP / "hover_runtime" / "manifest.json").read_text())
    (runtime_dir / "php-fpm.conf").write_text(conf)
    return start_runtime(AWS_LAMBDA_FUNCTION_NAME=HTTP_FUNCTION, HOVER_RUNTIME_DIR=runtime_dir)


@pytest.mark.parametrize(
    "conf, fpm_says",
    [
        ("pm.max_children = 0\n", "pm.max_children must be a positive value"),
        ("; a comment\nthis line is no directive\n", "(line 2 of {conf}: `this line is no directive`)"),
        ("pm = sometimes\n", "invalid process manager (static, dynamic or ondemand) (line 1 of {conf}: `pm = sometimes`)"),
    ],
)
def test_a_broken_php_fpm_conf_is_an_init_error_with_php_fpms_message(start_runtime, tmp_path, conf, fpm_says):
    runtime = runtime_with_fpm_conf(start_runtime, tmp_path, conf)
    answer = invoke(runtime, v2(path="/"))
    assert answer.get("errorType") == "Hover.PhpFpmFailed", answer
    assert fpm_says.format(conf=tmp_path / "hover_runtime" / "php-fpm.conf") in answer["errorMessage"], answer["errorMessage"]


def test_directives_that_would_take_php_fpm_away_from_the_runtime_are_dropped(start_runtime, tmp_path):
    conf = (
        "[www]\n"
        "include=/etc/passwd\n"
        "listen = 127.0.0.1:9000\n"
        "LISTEN.OWNER = nobody\n"
        "clear_env = yes\n"
        "error_log = /tmp/elsewhere.log\n"
        "pm.max_requests = 3\n"
    )
    runtime = runtime_with_fpm_conf(start_runtime, tmp_path, conf)
    for _ in range(7):
        assert_serves(runtime)
    log = runtime.log()
    for dropped in ["[www]", "include=/etc/passwd", "listen = 127.0.0.1:9000", "LISTEN.OWNER = nobody", "clear_env = yes"]:
        assert f"line {conf.splitlines().index(dropped) + 1} ignored" in log and dropped in log, dropped
    # clear_env stayed off: the workers see the function's variables.
    seen = json.loads(body_of(invoke(runtime, v2(path="/echo"))))
    assert seen["server"].get("AWS_LAMBDA_FUNCTION_NAME") == HTTP_FUNCTION
