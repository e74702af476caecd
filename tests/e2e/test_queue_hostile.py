"""The queue function under attack, as an attacker and as an operator would attack it: jobs
that leave the process changed, fork, fight the alarm, write to the output, release and
delete in odd orders or fail inside failed(); signals from outside; the shortest timeouts;
events at Lambda's limits and past them; SQS unreachable; hundreds of batches and restarts
in a row. Whatever happens, every batch gets exactly one answer, in time, listing a record
if and only if its job was not deleted, and the runtime serves the next batch.

Jobs are App\\Jobs\\Hostile (one class, an action each) unless said otherwise."""

import base64
import hashlib
import json
import os
import pathlib
import re
import signal
import socket
import queue as queues
import subprocess
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from conftest import BOOTSTRAP, free_port, runtime_environment
from queue_functions import QueueFunction, payload, payloads, start_function  # noqa: F401 (a fixture)
from sqs_events import ACCOUNT, Queue, failures, message_ids, sqs_client, unique_name


@pytest.fixture(scope="module")
def sqs(moto):
    return sqs_client(moto)


@pytest.fixture(scope="module")
def hostile(tmp_path_factory, moto):
    """One queue function (queue.default: tries 3, backoff "1, 5") for the tests that leave
    it serving, with a 10 s timeout: its stop point is 9 s in."""
    function = QueueFunction(tmp_path_factory.mktemp("hostile-queue"), moto, function_timeout=10)
    assert function.invoke(fake_event([payload("Succeeds", "warm-hostile")])) == failures()
    yield function
    function.stop()


def job(label, action, *arguments):
    """The body of `new App\\Jobs\\Hostile(label, action, ...arguments)`."""
    return payload("Hostile", label, action, *arguments)


def jobs(*specs):
    """Several Hostile bodies, each spec a tuple (label, action, arguments...)."""
    return payloads(*[("Hostile", *spec) for spec in specs])


def fake_event(bodies, queue="hostile-fake", ids=None, receive_count=1, partition="aws", region="us-east-1"):
    """A Lambda SQS event for `bodies` that no SQS holds (receipt handles of nothing): for jobs
    that never release."""
    arn = f"arn:{partition}:sqs:{region}:{ACCOUNT}:{queue}"
    ids = ids or [str(uuid.uuid4()) for _ in bodies]
    return {
        "Records": [
            {
                "messageId": message_id,
                "receiptHandle": f"rh-{uuid.uuid4().hex}",
                "body": body,
                "attributes": {"ApproximateReceiveCount": str(receive_count), "SentTimestamp": "1700000000000"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": arn,
                "awsRegion": region,
            }
            for message_id, body in zip(ids, bodies)
        ]
    }


def delivered(sqs, *bodies, prefix="hostile"):
    """A batch received from a queue of its own: the queue, the event, its message ids."""
    queue = Queue(sqs, unique_name(prefix))
    event = queue.event(queue.deliver(list(bodies)))
    return queue, event, message_ids(event)


def states(function, label, since=0):
    """What each run of the `state` job labelled `label` saw."""
    return [line["state"] for line in function.log.records(label, "ran", since=since)]


def process_facts(pid):
    """A process's open descriptors, threads, resident memory (kB) and child processes."""
    status = pathlib.Path(f"/proc/{pid}/status").read_text()
    field = lambda name: int(re.search(rf"^{name}:\s+(\d+)", status, re.M).group(1))  # noqa: E731
    return {
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        "threads": field("Threads"),
        "rss_kb": field("VmRSS"),
        "children": children(pid),
    }


def children(pid):
    """The pids of a process's children, with their state (Z: a zombie no one reaped)."""
    found = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = pathlib.Path(f"/proc/{entry}/stat").read_text()
        except (FileNotFoundError, ProcessLookupError):
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found[int(entry)] = fields[0]
    return found


def restarts(function):
    return len(re.findall(r"the runtime restarted in place \(restart \d+\)", function.log_text()))


def assert_healthy(function, pid=None):
    """The next batch is served, by the same process, in well under a second."""
    label = f"healthy-{uuid.uuid4().hex[:8]}"
    body = payload("Succeeds", label)
    response, seconds = function.timed_invoke(fake_event([body]))
    assert response == failures(), response
    assert function.log.did(label) == ["ran"]
    assert seconds < 1.5, seconds
    if pid is not None:
        assert function.pid() == pid, "the same process (restarted in place if at all)"
    log = function.log_text()
    assert "Runtime exited" not in log and "Task timed out" not in log, log[-3000:]


class FakeLambda:
    """A Runtime API of the tests' own, for what AWS's RIE cannot do: a trace id per
    invocation (the RIE sends none), a deadline chosen per invocation. The runtime runs
    under it as under Lambda (docker/bootstrap, the example app, a queue function)."""

    def __init__(self, directory, aws_environment, name="example-default-queue", **environment):
        from queue_functions import QueueLog, failed_jobs_database

        directory.mkdir(parents=True, exist_ok=True)
        self.log = QueueLog(directory / "queue-log.jsonl")
        self.log_path = directory / "runtime.log"
        self.pending = queues.Queue()
        self.answers = {}
        self.answered = threading.Condition()
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *arguments):
                pass

            def do_GET(self):
                request_id, payload, headers = fake.pending.get()
                self.send_response(200)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Lambda-Runtime-Aws-Request-Id", request_id)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                parts = self.path.strip("/").split("/")
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if len(parts) >= 5 and parts[2] == "invocation":
                    with fake.answered:
                        fake.answers.setdefault(parts[3], []).append((parts[4], body))
                        fake.answered.notify_all()

        self.server = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        environment = runtime_environment(
            AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{self.server.server_address[1]}",
            AWS_LAMBDA_FUNCTION_NAME=name,
            HOVER_FUNCTION_TYPE="queue",
            HOVER_STORAGE_PATH=directory / "storage",
            EXAMPLE_QUEUE_LOG=self.log.path,
            DB_DATABASE=failed_jobs_database(directory / "failed-jobs.sqlite"),
            QUEUE_FAILED_DRIVER="database-uuids",
            CACHE_DRIVER="file",
            **{**aws_environment, **environment},
        )
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen([str(BOOTSTRAP)], env=environment, stdout=log, stderr=subprocess.STDOUT)

    def invoke(self, event, trace_id=None, seconds=10):
        """Hands the runtime an invocation; returns its answers (path, body) once it has one."""
        request_id = str(uuid.uuid4())
        headers = {"Lambda-Runtime-Deadline-Ms": str(int((time.time() + seconds) * 1000)),
                   "Lambda-Runtime-Invoked-Function-Arn": f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:x"}
        if trace_id:
            headers["Lambda-Runtime-Trace-Id"] = trace_id
        self.pending.put((request_id, json.dumps(event).encode(), headers))
        with self.answered:
            assert self.answered.wait_for(lambda: request_id in self.answers, timeout=seconds + 5), self.log_text()[-3000:]
        kind, body = self.answers[request_id][0]
        assert kind == "response", (kind, body)
        return json.loads(body)

    def log_text(self):
        return self.log_path.read_text(errors="replace")

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.server.shutdown()


# State a job leaves behind.


@pytest.fixture
def fake_lambda(tmp_path, moto):
    fake = FakeLambda(tmp_path / "fake-lambda", moto)
    yield fake
    fake.stop()


def test_the_trace_id_is_each_batchs_even_after_a_job_overwrites_it_and_after_a_release(fake_lambda, sqs):
    """_X_AMZN_TRACE_ID is the invocation's in getenv(), $_SERVER and $_ENV, batch after
    batch: after a job putenv()s its own, and after a release made the SQS client (whose
    threads, if it left any, would stop the runtime from updating the environment); unset
    for an invocation without one; and right again after a restart in place."""
    first, overwrite, release, last = jobs(
        ("trace-1", "state"), ("trace-overwrite", "pollute"), ("trace-release", "release", 0), ("trace-2", "state")
    )
    traces = [f"Root=1-{int(time.time()):08x}-{uuid.uuid4().hex[:24]};Parent={uuid.uuid4().hex[:16]};Sampled=1" for _ in range(4)]
    mark = fake_lambda.log.mark()
    assert fake_lambda.invoke(fake_event([first]), trace_id=traces[0]) == failures()
    assert fake_lambda.invoke(fake_event([overwrite]), trace_id=traces[1]) == failures()
    _, event, (released,) = delivered(sqs, release)
    assert fake_lambda.invoke(event, trace_id=traces[2]) == failures(released)
    assert fake_lambda.invoke(fake_event([last]), trace_id=traces[3]) == failures()
    assert fake_lambda.invoke(fake_event([job("trace-none", "state")])) == failures()
    (untraced,) = states(fake_lambda, "trace-none", since=mark)
    assert (untraced["trace_getenv"], untraced["trace_server"], untraced["trace_env"]) == (False, None, None)
    # Across a restart in place (a job's exit()), the next batch's own, again.
    exits = fake_event([payload("CallsExit", "trace-exit")])
    assert fake_lambda.invoke(exits, trace_id=traces[0]) == failures(*message_ids(exits))
    assert fake_lambda.invoke(fake_event([job("trace-restarted", "state")]), trace_id=traces[2]) == failures()
    (restarted,) = states(fake_lambda, "trace-restarted", since=mark)
    assert (restarted["trace_getenv"], restarted["trace_server"], restarted["trace_env"]) == (traces[2],) * 3
    assert "the runtime restarted in place (restart 1)" in fake_lambda.log_text()
    seen = states(fake_lambda, "trace-1", since=mark) + states(fake_lambda, "trace-2", since=mark)
    polluted = fake_lambda.log.records("trace-overwrite", "polluted", since=mark)[0]["state"]
    assert [(s["trace_getenv"], s["trace_server"], s["trace_env"]) for s in seen] == [(traces[0],) * 3, (traces[3],) * 3]
    assert (polluted["trace_getenv"], polluted["trace_server"]) == (traces[1], traces[1])
    assert "is not updated" not in fake_lambda.log_text()


# What a job leaves behind in the process.

FRESH_STATE_KEYS = [
    "putenv", "env", "server", "global", "static", "config", "precision", "error_handler",
    "ob_level", "cwd", "umask", "usr1_handler", "async_signals", "blocked_signals", "handoff",
]


def test_a_restart_in_place_starts_from_the_state_of_a_first_start(start_function):
    """queue:work keeps what a job changes for the jobs after it (the README's contract:
    state is reset as queue:work resets it), but a restart in place is a new process image:
    nothing a job changed may reach the image that replaces it, whatever the job changed
    (environment, ini, handlers, buffers, statics, config, working directory, umask,
    signal handlers)."""
    function = start_function(function_timeout=10)
    fresh, pollute, ends, after = jobs(("fresh", "state"), ("polluter", "pollute"), ("ends", "sleep", 0), ("after", "state"))
    exits = payload("CallsExit", "exits")
    assert function.invoke(fake_event([fresh])) == failures()
    pid = function.pid()
    event = fake_event([pollute, exits, ends])
    assert function.invoke(event) == failures(*message_ids(event)[1:])
    polluted = function.log.records("polluter", "polluted")[0]["state"]
    assert polluted["cwd"] == "/" and polluted["umask"] == "0077" and polluted["config"] == "polluted"
    assert function.invoke(fake_event([after])) == failures()
    assert restarts(function) == 1 and function.pid() == pid
    (before,) = states(function, "fresh")
    (restarted,) = states(function, "after")
    assert {key: restarted[key] for key in FRESH_STATE_KEYS} == {key: before[key] for key in FRESH_STATE_KEYS}


def test_a_signal_mask_a_job_leaves_does_not_take_the_alarm_from_the_restarted_runtime(start_function):
    """A job blocks SIGALRM, then exits: the runtime restarts in place. The next job, with a
    timeout of 1 s, must be stopped by its own alarm, not only by the deadline watcher."""
    function = start_function(function_timeout=5)
    blocks, sleeper, blocked_state = jobs(("blocks-alarm", "block-alarm-then-exit"), ("sleeper", "sleep", 30, 1), ("mask", "state"))
    event = fake_event([blocks])
    assert function.invoke(event) == failures(*message_ids(event))
    assert function.invoke(fake_event([blocked_state])) == failures()
    event = fake_event([sleeper])
    response, seconds = function.timed_invoke(event)
    assert response == failures(*message_ids(event))
    assert states(function, "mask")[0]["blocked_signals"] == [], "SIGALRM is still blocked after the restart"
    assert seconds < 2.5, f"stopped after {seconds:.1f} s: by the deadline watcher, not by the job's 1 s timeout"
    assert "PHP's alarm could not stop it" not in function.log_text()


def test_a_job_that_leaves_async_signals_off_does_not_take_the_next_jobs_timeout_away(start_function):
    """A job turns pcntl_async_signals off and returns. The next job in the batch has a 1 s
    timeout: the README promises it ends by it, through Laravel's alarm handler."""
    function = start_function(function_timeout=5)
    off, sleeper = jobs(("signals-off", "async-off"), ("next-sleeper", "sleep", 30, 1))
    after = payload("Succeeds", "after-sleeper")
    event = fake_event([off, sleeper, after])
    response, seconds = function.timed_invoke(event)
    assert response == failures(*message_ids(event)[1:])
    assert function.log.did("next-sleeper") == ["ran"]
    assert seconds < 2.5, f"stopped after {seconds:.1f} s: by the deadline watcher, not by the job's 1 s timeout"


def test_a_job_that_deletes_its_working_directory_then_exits_does_not_stop_the_restart(start_function):
    function = start_function(function_timeout=10)
    leaves, state = jobs(("leaves-cwd", "leave-cwd-then-exit"), ("after-cwd", "state"))
    assert function.invoke(fake_event([payload("Succeeds", "warm-cwd")])) == failures()
    pid = function.pid()
    event = fake_event([leaves])
    assert function.invoke(event) == failures(*message_ids(event))
    assert function.invoke(fake_event([state])) == failures()
    assert restarts(function) == 1
    assert_healthy(function, pid)


# Jobs that fork, and what their processes leave behind.


@pytest.mark.parametrize("action", ["fork-returns", "fork-child-exits"])
def test_a_jobs_fork_answers_nothing_runs_nothing_more_and_counts_no_hand_back(hostile, sqs, action):
    """A job forks, and its child either exits (the usual way: PHP's shutdown functions run
    in it) or returns from the job, as if it forgot to exit (it goes on in the worker's
    loop). Only the runtime answers; the child runs no later record; and it must not count
    the records after it as handed back unrun (the runtime runs them), or their attempts
    come out one short at their next delivery."""
    forker, thrower = jobs((f"forker-{action}", action), (f"after-{action}", "throw"))
    queue, event, (forked, after) = delivered(sqs, forker, thrower)
    mark = hostile.log.mark()
    response, seconds = hostile.timed_invoke(event)
    assert response == failures(after), "the thrower is released (tries 3, backoff 1 s)"
    assert sorted(hostile.log.did(f"forker-{action}", since=mark)) == (["child", "parent"] if action == "fork-returns" else ["parent"])
    assert hostile.log.did(f"after-{action}", since=mark) == ["ran"], "run once, by the runtime"
    time.sleep(1.1)  # its backoff (looking sooner would receive it, and raise its count)
    (again,) = queue.receive([after])
    assert again["Attributes"]["ApproximateReceiveCount"] == "2"
    assert hostile.invoke(queue.event([again])) == failures(after)
    attempts = [record["attempts"] for record in hostile.log.records(f"after-{action}", "ran", since=mark)]
    assert attempts == [1, 2], "its second delivery is its second attempt"


def test_a_jobs_child_that_keeps_running_does_not_hold_the_answer(hostile):
    lingers = job("lingerer", "fork-lingers", 3)
    after = payload("Succeeds", "after-lingerer")
    response, seconds = hostile.timed_invoke(fake_event([lingers, after]))
    assert response == failures()
    assert seconds < 1.5
    assert hostile.log.did("after-lingerer") == ["ran"]
    assert_healthy(hostile)


def test_background_processes_a_job_leaves_are_reaped(start_function):
    """A job starts `sleep 0.2 &` through the shell (exec("… &"), common in apps): the shell
    ends, its background process is re-parented to the runtime (the reaper of its
    descendants' orphans), and ends 0.2 s later. Nothing may stay a zombie of the runtime
    batch after batch (each holds a pid until the container dies)."""
    function = start_function(function_timeout=10)
    bodies = jobs(*[(f"orphan-{n}", "orphan", "0.2") for n in range(5)])
    for body in bodies:
        assert function.invoke(fake_event([body])) == failures()
    pid = function.pid()
    time.sleep(0.6)
    assert function.invoke(fake_event([payload("Succeeds", "after-orphans")])) == failures()
    time.sleep(0.2)
    zombies = {child: pathlib.Path(f"/proc/{child}/comm").read_text().strip() for child, state in children(pid).items() if state == "Z"}
    assert zombies == {}, f"{len(zombies)} zombies left under the runtime {pid}"


# Jobs that fight the alarm.


def test_jobs_that_cancel_or_swallow_their_alarm_are_stopped_before_the_deadline(start_function):
    """One job cancels its alarm (pcntl_alarm(0)), another installs a SIGALRM handler that
    ignores it (with a timeout of 1 s): both sleep 30 s. The deadline watcher answers each
    batch before Lambda's 5 s deadline (the sleeper and the rest listed), and the runtime
    restarts in place and serves on."""
    function = start_function(function_timeout=5)
    cancels, swallows = jobs(("cancels-alarm", "alarm-off", 30), ("swallows-alarm", "own-alarm-handler", 30, 1))
    assert function.invoke(fake_event([payload("Succeeds", "warm-alarm")])) == failures()
    pid = function.pid()
    for n, body in enumerate([cancels, swallows]):
        event = fake_event([body, payload("Succeeds", f"after-alarm-{n}")])
        response, seconds = function.timed_invoke(event)
        assert response == failures(*message_ids(event))
        assert seconds < 5, seconds
    assert restarts(function) == 2
    assert_healthy(function, pid)


# Signals sent to the runtime from outside, mid-job.


def invoke_and_signal(function, event, label, signal_number):
    """Invokes, sends the runtime `signal_number` once the job labelled `label` runs, and
    returns the answer."""
    pid = function.pid()
    answer = {}
    invoking = threading.Thread(target=lambda: answer.setdefault("response", function.invoke(event)))
    invoking.start()
    deadline = time.monotonic() + 10
    while function.log.did(label) == []:
        assert time.monotonic() < deadline, "the job never ran"
        time.sleep(0.01)
    os.kill(pid, signal_number)
    invoking.join(timeout=30)
    return answer.get("response")


@pytest.mark.parametrize("name", ["SIGUSR1", "SIGUSR2", "SIGHUP", "SIGVTALRM", "SIGPROF", "SIGCHLD", "SIGWINCH"])
def test_a_stray_signal_mid_job_changes_nothing(hostile, name):
    """Signals whose default would end the runtime and that nothing in it uses (the README:
    ignored) arrive while a job runs: the job, the batch and the process go on as if nothing
    happened. (Not SIGALRM: while a job runs, it is the job's timeout, by design.)"""
    label = f"stray-{name}"
    sleeper = job(label, "sleep", "0.6")
    after = payload("Succeeds", f"after-{label}")
    pid = hostile.pid()
    before = restarts(hostile)
    response = invoke_and_signal(hostile, fake_event([sleeper, after]), label, getattr(signal, name))
    assert response == failures()
    assert hostile.log.did(label) == ["ran", "woke"]
    assert hostile.log.did(f"after-{label}") == ["ran"]
    assert hostile.pid() == pid and restarts(hostile) == before


@pytest.mark.parametrize("name", ["SIGTERM", "SIGINT"])
def test_a_stop_signal_mid_batch_still_answers_the_batch(start_function, name):
    """SIGTERM (how Lambda and operators stop a process) or SIGINT while a job runs: the
    runtime may stop, but the batch in flight must be answered first (README: every
    invocation gets exactly one answer), with the records done left out; otherwise Lambda
    sees the runtime exit and hands the whole batch back, and the jobs done run again.
    (queue:work, on SIGTERM, finishes its job and quits.)"""
    function = start_function(function_timeout=10)
    assert function.invoke(fake_event([payload("Succeeds", f"warm-{name}")])) == failures()
    label = f"stopped-{name}"
    done, sleeper, after = payload("Succeeds", f"done-{name}"), job(label, "sleep", 1), payload("Succeeds", f"after-{name}")
    event = fake_event([done, sleeper, after])
    done_id, _, later = message_ids(event)
    response = invoke_and_signal(function, event, label, getattr(signal, name))
    assert isinstance(response, dict) and "batchItemFailures" in response, f"the batch was not answered: {response}"
    listed = [item["itemIdentifier"] for item in response["batchItemFailures"]]
    assert done_id not in listed, "the job done must not run again"
    assert later in listed


# Hundreds of batches, and restarts in a row.


def test_a_hundred_batches_leave_descriptors_threads_memory_and_children_flat(start_function, sqs):
    """Each batch: a job that succeeds, one that logs (Laravel's log stream), one that
    throws (reported, released: an SQS call) and one that releases (the same message, kept
    invisible). Measured after 10 batches and after 100."""
    function = start_function(function_timeout=30)
    succeeds, logs, throws = payload("Succeeds", "flat"), payload("LogsMessage", "flat-log"), payload("Throws", "flat-throws")
    queue = Queue(sqs, unique_name("flat"))
    held = queue.deliver([throws, job("flat-release", "release", 300)], visibility_timeout=600)
    real = queue.event(held)["Records"]
    thrown, released = real[0]["messageId"], real[1]["messageId"]

    def run(batches):
        for _ in range(batches):
            event = fake_event([succeeds, logs], queue=queue.name)
            event["Records"] += real
            assert function.invoke(event) == failures(thrown, released)

    run(10)
    pid = function.pid()
    early = process_facts(pid)
    run(90)
    late = process_facts(pid)
    assert function.pid() == pid and restarts(function) == 0
    assert late["fds"] == early["fds"], (early, late)
    assert late["threads"] == early["threads"], (early, late)
    assert late["children"] == early["children"] == {}, (early, late)
    assert late["rss_kb"] - early["rss_kb"] < 4096, (early, late)
    assert "could not be set" not in function.log_text(), "every release reached SQS"


def test_twenty_restarts_in_a_row_leave_the_runtime_as_after_the_first(start_function):
    """Twenty batches in a row, each ending PHP with exit() after a job that logged (Laravel's
    log stream open): each answered, each a restart in place (same pid, no second init, the
    configuration not cached again), and the process no larger, with no more descriptors or
    threads, after the twentieth than after the second."""
    function = start_function(function_timeout=10)
    logs, exits = payload("LogsMessage", "before-exit"), payload("CallsExit", "exit-in-a-row")
    assert function.invoke(fake_event([payload("Succeeds", "warm-restarts")])) == failures()
    pid = function.pid()
    config_cache = function.runtime.storage / "bootstrap" / "cache" / "config.php"
    cached_at = config_cache.stat().st_mtime_ns
    healthy = payload("Succeeds", "between-restarts")

    def restart_times(count):
        for _ in range(count):
            event = fake_event([logs, exits, logs])
            _, exiting, after = message_ids(event)
            assert function.invoke(event) == failures(exiting, after)
        assert function.invoke(fake_event([healthy])) == failures()

    restart_times(2)
    early = process_facts(pid)
    restart_times(18)
    late = process_facts(pid)
    assert restarts(function) == 20 and function.pid() == pid
    assert function.log_text().count("INIT START") == 1
    assert config_cache.stat().st_mtime_ns == cached_at, "the configuration was cached again"
    assert late["threads"] == early["threads"], (early, late)
    assert late["fds"] == early["fds"], (early, late, sorted(os.listdir(f"/proc/{pid}/fd"), key=int))
    assert late["rss_kb"] - early["rss_kb"] < 4096, (early, late)


# What jobs write to the output.


def test_what_a_job_writes_to_its_output_goes_to_the_log_and_nowhere_else(hostile):
    marker = uuid.uuid4().hex
    writes = job("writer", "echo", marker)
    after = payload("Succeeds", f"after-writer-{marker}")
    assert hostile.invoke(fake_event([writes, after])) == failures()
    log = hostile.log_text()
    for line in [f"echo:{marker}", f"stdout:{marker}", f"stderr-partial:{marker}"]:
        assert line in log, line
    assert hostile.log.did(f"after-writer-{marker}") == ["ran"]
    assert_healthy(hostile)


def test_a_partial_line_a_job_writes_does_not_break_the_runtimes_json_log_records(tmp_path, moto):
    """With AWS_LAMBDA_LOG_FORMAT=JSON every record the runtime logs is one JSON object on a
    line of its own, for CloudWatch to read its level and fields. A job writes to STDERR
    without a final newline; then the runtime logs (a release whose visibility cannot be
    set: the receipt handle is no message's). Its record must still be a JSON line."""
    fake = FakeLambda(tmp_path / "json-log", moto, AWS_LAMBDA_LOG_FORMAT="JSON")
    try:
        marker = uuid.uuid4().hex
        writes, releases = jobs(("json-writer", "echo", marker), ("json-release", "release", 5))
        event = fake_event([writes, releases])
        assert fake.invoke(event) == failures(message_ids(event)[1])
        lines = [line for line in fake.log_text().splitlines() if "could not be set" in line]
        assert lines, fake.log_text()[-2000:]
        for line in lines:
            record = json.loads(line)
            assert record.get("level", "").upper() == "ERROR", record
    finally:
        fake.stop()


def test_output_a_job_leaves_buffered_still_reaches_the_log_with_its_batch(start_function):
    """A job opens an output buffer (ob_start) and never closes it; it and the next job
    echo. Their output must reach the log by the time the batch is answered, not when the
    process ends (a frozen or killed container never flushes it). (queue:work leaves the
    buffer open too; a runtime whose answer does not wait for PHP's end need not.)"""
    hostile = start_function(function_timeout=10)
    marker = uuid.uuid4().hex
    leaves_buffer = job(f"buffers-{marker}", "pollute")
    writes = job(f"buffered-writer-{marker}", "echo", marker)
    assert hostile.invoke(fake_event([leaves_buffer, writes])) == failures()
    time.sleep(0.3)
    log = hostile.log_text()
    assert f"echo:{marker}" in log, "a job's echo is held in the output buffer another job left open"


# The shortest timeouts.


def test_under_lambdas_shortest_timeout_nothing_runs_everything_comes_back_and_the_runtime_stays(start_function):
    """1 s: the stop point is 800 ms in, less than the second a job needs, so no record
    starts: each batch lists all its records at once, batch after batch, with no restart
    and no invocation timing out."""
    function = start_function(function_timeout=1)
    bodies = [payload("Succeeds", "never-runs")] * 3
    for _ in range(3):
        event = fake_event(bodies)
        response, seconds = function.timed_invoke(event)
        assert response == failures(*message_ids(event))
        assert seconds < 1
    assert function.log.did("never-runs") == []
    assert not [e for e in function.log.events() if e[0] == "JobProcessing"]
    log = function.log_text()
    assert "Task timed out" not in log and "Runtime exited" not in log and restarts(function) == 0


def test_a_two_second_function_stops_a_job_without_a_timeout_in_time_and_serves_on(start_function):
    """2 s: the stop point is 1.6 s in, so a job gets a timeout of 1 s: this one says
    `$timeout = 0` (no timeout at all under queue:work) and sleeps 30 s. It is stopped by its
    alarm, the batch answered before the deadline, the runtime restarted in place; the next
    batch runs."""
    function = start_function(function_timeout=2)
    assert function.invoke(fake_event([payload("Succeeds", "warm-2s")])) == failures()
    pid = function.pid()
    sleeper = job("no-timeout", "sleep", 30, 0)
    event = fake_event([sleeper, payload("Succeeds", "after-no-timeout")])
    response, seconds = function.timed_invoke(event)
    assert response == failures(*message_ids(event))
    assert seconds < 1.6, seconds
    assert function.log.did("no-timeout") == ["ran"]
    assert "PHP's alarm could not stop it" not in function.log_text(), "stopped by its alarm, not the watcher"
    event = fake_event([payload("Succeeds", f"two-second-{n}") for n in range(3)])
    assert function.invoke(event) == failures()
    assert restarts(function) == 1 and function.pid() == pid
    assert "Task timed out" not in function.log_text()


# Releases.


def test_releases_with_odd_delays_are_listed_and_reach_sqs_as_visibility(hostile, sqs):
    """A negative delay is 0 (visible at once); a DateTime 3 s ahead and a DateInterval of
    2 s are those seconds; more than SQS's 12 hours (100,000 s, PHP_INT_MAX) is cut to 12
    hours, which SQS takes: all listed, each visibility set."""
    bodies = jobs(
        ("negative", "release-negative", 5),
        ("datetime", "release-at", 3),
        ("interval", "release-interval", 2),
        ("huge", "release", 100000),
        ("php-int-max", "release", 9223372036854775807),
    )
    mark = len(hostile.log_text())
    queue, event, ids = delivered(sqs, *bodies)
    started = time.monotonic()
    assert hostile.invoke(event) == failures(*ids)
    assert "could not be set" not in hostile.log_text()[mark:]
    negative, datetime_, interval, huge, int_max = ids
    assert set(queue.visible()) == {negative}
    seen = queue.wait_until_visible([datetime_, interval], timeout=6)
    assert 1.8 <= seen[interval][0] - started < 2 + 1.5
    assert 2.8 <= seen[datetime_][0] - started < 3 + 1.5
    assert not {huge, int_max} & set(queue.visible())


@pytest.mark.parametrize("action", ["release-then-delete", "delete-then-release", "fail-then-release"])
def test_a_job_both_released_and_deleted_is_listed_only_if_not_deleted(hostile, sqs, action):
    """Laravel's job is deleted whichever came first (isDeleted(); fail() deletes too); under
    queue:work the message is gone (DeleteMessage). The README: a record is listed if and only if its job
    was not deleted. Listing it would run the job again."""
    body = job(action, action, 30)
    _, event, (message,) = delivered(sqs, body)
    assert hostile.invoke(event) == failures(), "deleted (isDeleted()), yet listed: it runs again"
    assert hostile.log.did(action) == (["ran", "failed"] if action.startswith("fail") else ["ran"])


# failed() handlers that misbehave.


def test_a_failed_handler_that_throws_still_leaves_the_job_failed_and_the_batch_going(hostile):
    """On its last try (received a 3rd time, tries 3) a job throws, and its failed() throws
    too: the job is failed all the same (deleted, in the failed-job store: Laravel raises
    JobFailed in a finally), the batch goes on, and nothing restarts."""
    thrower = job("failed-throws", "throw", "throw")
    after = payload("Succeeds", "after-failed-throws")
    before = restarts(hostile)
    event = fake_event([thrower, after], receive_count=3)
    assert hostile.invoke(event) == failures()
    assert hostile.log.did("failed-throws") == ["ran", "failed"]
    assert hostile.log.did("after-failed-throws") == ["ran"]
    row = hostile.failed_job(thrower)
    assert row["exception"].startswith("RuntimeException: failed-throws threw")
    assert restarts(hostile) == before


@pytest.mark.parametrize("how", ["exit", "memory"])
def test_a_failed_handler_that_ends_php_on_the_last_try_answers_the_batch_and_restarts(start_function, how):
    """On its last try a job throws, and its failed() calls exit() or exhausts memory. Laravel
    deleted the job before calling failed(): it is not listed (listed, it would come back to
    fail the same way until the dead-letter queue); the job before it is done, the one after
    it listed unrun; the runtime restarts in place and serves on."""
    function = start_function(function_timeout=10)
    assert function.invoke(fake_event([payload("Succeeds", f"warm-{how}")])) == failures()
    pid = function.pid()
    ending = job(f"failed-{how}", "throw", how)
    before, after = payload("Succeeds", f"before-failed-{how}"), payload("Succeeds", f"after-failed-{how}")
    event = fake_event([before, ending, after], receive_count=3)
    assert function.invoke(event) == failures(message_ids(event)[2])
    assert function.log.did(f"failed-{how}") == ["ran", "failed"]
    assert function.log.did(f"after-failed-{how}") == []
    assert restarts(function) == 1
    assert_healthy(function, pid)


# Events at Lambda's limits, and past them.


def compact_event(count, command, queue="big", class_name="App\\Jobs\\Trivial"):
    """`count` records of one small job (a payload with only what Laravel reads), each
    ~400 bytes: 10,000 fit Lambda's 6 MB."""
    body = json.dumps({"job": "Illuminate\\Queue\\CallQueuedHandler@call", "data": {"commandName": class_name, "command": command}}, separators=(",", ":"))
    arn = f"arn:aws:sqs:us-east-1:{ACCOUNT}:{queue}"
    records = [
        {"messageId": f"m{n}", "receiptHandle": f"r{n}", "body": body, "attributes": {"ApproximateReceiveCount": "1"},
         "messageAttributes": {}, "eventSource": "aws:sqs", "eventSourceARN": arn, "awsRegion": "us-east-1"}
        for n in range(count)
    ]
    return json.dumps({"Records": records}, separators=(",", ":")).encode()


def test_lambdas_largest_batch_of_ten_thousand_records_runs_whole(hostile):
    event = compact_event(10_000, 'O:16:"App\\Jobs\\Trivial":0:{}')
    assert len(event) < 6 * 1024 * 1024
    mark = hostile.log.mark()
    started = time.monotonic()
    status, response = hostile.runtime.invoke_raw(event)
    assert response == failures()
    assert time.monotonic() - started < 5
    processed = [job for name, job in hostile.log.events(since=mark) if name == "JobProcessed"]
    assert len(processed) == len(set(processed)) == 10_000
    assert process_facts(hostile.pid())["rss_kb"] < 128 * 1024


def test_thousands_of_records_past_the_stop_point_are_answered_by_the_runtime_and_counted_in_time(start_function):
    """10,000 records of 1 ms jobs in a 3 s function: about a thousand run before the stop
    point (2.4 s in, less 1 s for a job), the rest come back unrun. The runtime answers
    itself, listing exactly the records not run, and counts the hand-backs (README: a
    `tries = 1` job handed back unrun still runs) while there is time before the stop
    point; how many it could not count (thousands of file-cache writes do not fit in a
    second) it says in the log. Answering is not left to the deadline watcher (which
    restarts the runtime, blaming a job "still running"), nor to Lambda's timeout."""
    function = start_function(function_timeout=3)
    assert function.invoke(fake_event([payload("Succeeds", "warm-big")])) == failures()
    pid = function.pid()
    command = 'O:16:"App\\Jobs\\Hostile":3:{s:5:"label";s:9:"big-sleep";s:6:"action";s:5:"sleep";s:3:"arg";d:0.001;}'
    mark = function.log.mark()
    started = time.monotonic()
    status, response = function.runtime.invoke_raw(compact_event(10_000, command, class_name="App\\Jobs\\Hostile"))
    seconds = time.monotonic() - started
    ran = {job for name, job in function.log.events(since=mark) if name == "JobProcessing"}
    listed = [item["itemIdentifier"] for item in response["batchItemFailures"]]
    assert 100 < len(ran) < 10_000
    assert listed == [f"m{n}" for n in range(10_000) if f"m{n}" not in ran]
    assert seconds < 3
    cache = function.runtime.storage / "framework" / "cache" / "data"
    uncounted = []
    for message_id in listed:
        digest = hashlib.sha1(f"hover:queue:unrun:{message_id}".encode()).hexdigest()
        if not (cache / digest[:2] / digest[2:4] / digest).exists():
            uncounted.append(message_id)
    assert len(uncounted) < len(listed), "some hand-backs were counted"
    reported = re.findall(r"(\d+) of the hand-backs were not counted: the stop point came first", function.log_text())
    assert reported == ([str(len(uncounted))] if uncounted else []), reported
    assert "PHP's alarm could not stop it" not in function.log_text(), "the deadline watcher answered"
    assert restarts(function) == 0 and function.pid() == pid


SQS_MAX_MESSAGE_BYTES = 262_144


def test_ten_bodies_at_sqss_size_limit_run_whole(hostile):
    """Ten bodies of exactly 256 KB (SQS's limit), each a job carrying a 256 KB argument."""
    template = job("padded", "pad", "PAD")
    marker = 's:3:\\"arg\\";s:3:\\"PAD\\";'
    assert marker in template

    def padded(length):
        return template.replace(marker, f's:3:\\"arg\\";s:{length}:\\"{"x" * length}\\";')

    padding = SQS_MAX_MESSAGE_BYTES - len(template.encode())
    while len(padded(padding).encode()) > SQS_MAX_MESSAGE_BYTES:
        padding -= 1
    body = padded(padding)
    assert len(body.encode()) == SQS_MAX_MESSAGE_BYTES
    mark = hostile.log.mark()
    assert hostile.invoke(fake_event([body] * 10)) == failures()
    assert [record["length"] for record in hostile.log.records("padded", "ran", since=mark)] == [padding] * 10


def test_one_message_delivered_ten_times_in_a_batch_is_listed_once_if_it_must_come_back(hostile, sqs):
    """SQS's at-least-once delivery can put one message in a batch more than once. Each
    copy runs; the answer names the message once when its job must come back, and not at
    all when every copy succeeded."""
    succeeds, throws = payload("Succeeds", "duplicated"), job("duplicated-throws", "throw")
    event = fake_event([succeeds] * 10, ids=["same-message"] * 10)
    assert hostile.invoke(event) == failures()
    assert hostile.log.did("duplicated") == ["ran"] * 10
    _, event, (message,) = delivered(sqs, throws)
    event["Records"] = event["Records"] * 10
    assert hostile.invoke(event) == failures(message)
    assert hostile.log.did("duplicated-throws") == ["ran"] * 10


def test_message_attributes_reach_the_job_as_the_aws_sdk_gives_them(hostile, sqs):
    """What queue:work's SqsJob holds (the AWS SDK for PHP's ReceiveMessage result): names as
    sent (a numeric one too), string values as sent (unicode too), a binary value as its
    bytes (the SDK decodes the wire's base64)."""
    binary = b"\x00\xff\x10binary\x80"
    attributes = {
        "123": {"DataType": "String", "StringValue": "numeric name"},
        "unicode": {"DataType": "String", "StringValue": "h\u00e9llo \u2603 \U0001d11e"},
        "amount": {"DataType": "Number", "StringValue": "1e3"},
        "blob": {"DataType": "Binary", "BinaryValue": binary},
        "custom": {"DataType": "String.custom", "StringValue": ""},
    }
    queue = Queue(sqs, unique_name("attributes"))
    queue.send(job("attributes", "attributes"), attributes=attributes)
    (message,) = queue.client.receive_message(QueueUrl=queue.url, AttributeNames=["All"], MessageAttributeNames=["All"])["Messages"]
    event = queue.event([message])
    assert hostile.invoke(event) == failures()
    (seen,) = hostile.log.records("attributes", "ran")
    by_name = {str(item["name"]): item for item in seen["message_attributes"]}
    assert set(by_name) == set(attributes)
    assert by_name["123"]["name_type"] == "integer", "PHP's own key for '123', as the SDK's array has it"

    def text(name, field):
        value = by_name[name]["fields"][field]
        return base64.b64decode(value["base64"]) if isinstance(value, dict) else value

    assert text("unicode", "StringValue").decode() == attributes["unicode"]["StringValue"]
    assert text("amount", "DataType") == b"Number" and text("amount", "StringValue") == b"1e3"
    assert text("custom", "StringValue") == b""
    assert text("blob", "DataType") == b"Binary"
    assert text("blob", "BinaryValue") == binary, "the bytes sent, not their base64"


@pytest.mark.parametrize(
    "event_of",
    [
        lambda good: {"Records": [good["Records"][0], {**good["Records"][0], "messageId": "other",
                                                     "eventSourceARN": good["Records"][0]["eventSourceARN"] + "-other"}]},
        lambda good: {"Records": [{**good["Records"][0], "eventSourceARN": "arn:aws-xx:sqs:xx-east-1:123456789012:jobs"}]},
        lambda good: {"Records": [{**good["Records"][0], "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:"}]},
        lambda good: {"Records": [{**good["Records"][0], "messageId": ""}]},
    ],
    ids=["two queues", "an unknown partition", "no queue name", "no message id"],
)
def test_an_event_lambda_never_sends_is_refused_whole_and_the_next_batch_runs(hostile, event_of):
    good = fake_event([payload("Succeeds", "never-from-refused")])
    status, response = hostile.runtime.invoke_raw(json.dumps(event_of(good)).encode())
    assert response.get("errorType") == "Hover.InvalidEvent", response
    assert hostile.log.did("never-from-refused") == []
    assert_healthy(hostile)


# SQS out of reach.


@pytest.mark.parametrize("endpoint", ["closed", "silent"])
def test_releases_with_sqs_out_of_reach_are_listed_and_the_batch_answered_in_time(start_function, moto, endpoint):
    """AWS_ENDPOINT_URL_SQS points at a closed port (connections refused) or at a socket that
    accepts and never answers. Ten jobs release themselves: each release fails (logged),
    each record is still listed (it comes back when the queue's visibility timeout ends),
    the batch is answered before the 4 s deadline, and the runtime serves on."""
    with socket.socket() as sink:
        sink.bind(("127.0.0.1", 0))
        if endpoint == "silent":
            sink.listen(1000)
        port = sink.getsockname()[1]
        if endpoint == "closed":
            sink.close()
        function = start_function(function_timeout=4, AWS_ENDPOINT_URL_SQS=f"http://127.0.0.1:{port}")
        assert function.invoke(fake_event([payload("Succeeds", f"warm-{endpoint}")])) == failures()
        pid = function.pid()
        releases = [job(f"unreachable-{endpoint}", "release", 30)] * 9
        event = fake_event([payload("Succeeds", f"done-{endpoint}")] + releases)
        response, seconds = function.timed_invoke(event)
        assert response == failures(*message_ids(event)[1:])
        assert seconds < 4
        assert function.log.did(f"done-{endpoint}") == ["ran"]
        assert "visibility could not be set" in function.log_text()
        assert_healthy(function, pid)


# A job that closes the runtime's output.


@pytest.mark.parametrize("closed", ["stderr", "both"])
def test_a_job_that_closes_stderr_does_not_send_the_runtimes_log_into_an_application_file_or_nowhere(start_function, tmp_path, closed):
    """A job closes STDERR (descriptor 2), or STDOUT and STDERR; the next opens a file of the
    application and keeps it: the kernel hands it the lowest free descriptor. The
    runtime's own log records (a release whose visibility cannot be set; the restart after
    an exit()) must still reach Lambda's log, never that file, before and after the restart
    (which keeps the process's descriptors)."""
    function = start_function(function_timeout=10)
    held = tmp_path / "application-file.txt"
    closes, holds, releases = jobs(("closes-output", "close-output", closed), ("holds-file", "hold-file", str(held)), ("release-unset", "release", 5))
    assert function.invoke(fake_event([payload("Succeeds", "warm-closed")])) == failures()
    pid = function.pid()
    event = fake_event([closes, holds, releases])
    assert function.invoke(event) == failures(message_ids(event)[2])
    descriptor = function.log.records("holds-file", "ran")[0]["fd"]
    event = fake_event([payload("CallsExit", "exits-closed")])
    assert function.invoke(event) == failures(*message_ids(event))
    assert_healthy(function, pid)
    log = function.log_text()
    runtime_lines = [line for line in held.read_text(errors="replace").splitlines() if "hold-file:" not in line]
    assert runtime_lines == [], f"the application's file (descriptor {descriptor}) got the runtime's log: {runtime_lines[:5]}"
    assert "visibility could not be set" in log
    assert "the runtime restarted in place (restart 1)" in log


# The worker's own stops, provoked.


def test_maintenance_mode_hands_the_batch_back_unrun_and_counts_it(hostile):
    """`php artisan down` (storage/framework/down) with a batch in flight: queue:work skips
    jobs while the application is down, so every record comes back unrun, counted: once the
    application is up, the next delivery (received a 2nd time) is still the first attempt."""
    down = hostile.runtime.storage / "framework" / "down"
    body = payload("Succeeds", "while-down")
    message = str(uuid.uuid4())
    down.write_text(json.dumps({"time": int(time.time()), "retry": None}))
    try:
        assert hostile.invoke(fake_event([body, body], ids=[message, message + "-2"])) == failures(message, message + "-2")
    finally:
        down.unlink()
    assert hostile.log.did("while-down") == []
    assert "down for maintenance" in hostile.log_text()
    assert hostile.invoke(fake_event([body], ids=[message], receive_count=2)) == failures()
    assert [record["attempts"] for record in hostile.log.records("while-down", "ran")] == [1]


def test_a_job_that_leaves_the_worker_over_its_memory_limit_stops_the_batch_and_restarts(start_function):
    """queue.default's memory is 512 MB: a job that keeps 600 MB stops the worker after it, as
    queue:work stops; the rest comes back unrun, and the runtime restarts in place, smaller."""
    function = start_function(function_timeout=10)
    assert function.invoke(fake_event([payload("Succeeds", "warm-memory")])) == failures()
    pid = function.pid()
    hog, after = job("hog", "hog", 600), payload("Succeeds", "after-hog")
    event = fake_event([hog, after])
    assert function.invoke(event) == failures(message_ids(event)[1])
    assert function.log.did("after-hog") == []
    assert "at or past its limit of 512 MB" in function.log_text()
    assert restarts(function) == 1
    assert process_facts(pid)["rss_kb"] < 200 * 1024
    assert_healthy(function, pid)


def test_a_jobs_alarm_still_pending_at_a_restart_does_not_kill_the_restarted_runtime(start_function):
    """A job with a timeout of 1 s (an alarm set for 1 s) calls exit() just before it: the
    runtime answers and restarts in place, by exec, which keeps a pending alarm. The alarm
    must not go off in the new image (its default action ends the process): the same
    process serves the next batch. (50 ms before the alarm, the new image is still booting.)"""
    nap = "0.95"
    function = start_function(function_timeout=10)
    assert function.invoke(fake_event([payload("Succeeds", f"warm-alarm-{nap}")])) == failures()
    pid = function.pid()
    event = fake_event([job(f"exits-before-alarm-{nap}", "sleep-then-exit", nap, 1)])
    assert function.invoke(event) == failures(*message_ids(event))
    time.sleep(0.3)
    assert "signal: alarm clock" not in function.log_text(), "the restarted runtime died of the job's alarm"
    assert_healthy(function, pid)
