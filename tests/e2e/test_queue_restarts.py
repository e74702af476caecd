"""The queue function when a job does not end on its own terms: past its timeout, near the
invocation's deadline, with the alarm blocked, by exit() or a fatal error. The batch is always
answered (records done: not listed; the one cut short: listed unless Laravel deleted it; the
rest: listed, unrun), and the runtime restarts in place: same process, no new init, and the
next invocation works. Each test has a runtime of its own (restarts are counted)."""

import pytest

from queue_functions import payload, payloads, start_function  # noqa: F401 (a fixture)
from sqs_events import Queue, failures, message_ids, queue_url_of, sqs_client, unique_name

MAX_ATTEMPTS_EXCEEDED = "Illuminate\\Queue\\MaxAttemptsExceededException"


@pytest.fixture(scope="module")
def sqs(moto):
    return sqs_client(moto)


def batch(sqs, *jobs):
    """A batch on a queue of its own, one record per job: a job is a payload, or a
    (payload, receive count) pair. Returns the event and its message ids."""
    queue = Queue(sqs, unique_name("restarts"))
    event = queue.event(queue.deliver(list(jobs)))
    return queue, event, message_ids(event)


def started_and_warm(start_function, sqs, **options):
    """A function that has served one batch (so that timings leave out its first start);
    returns it and its runtime's pid."""
    function = start_function(**options)
    _, event, _ = batch(sqs, payload("Succeeds", "warm"))
    assert function.invoke(event) == failures()
    return function, function.pid()


def assert_serves_after_restarting_in_place(function, sqs, pid, restarts):
    """The runtime restarted in place `restarts` times, and the next batch works, quickly."""
    _, event, _ = batch(sqs, payload("Succeeds", f"after-restart-{restarts}"))
    response, seconds = function.timed_invoke(event)
    assert response == failures()
    assert function.log.did(f"after-restart-{restarts}") == ["ran"]
    assert seconds < 1.0, "the restart happened before the invocation, not in it"
    assert function.pid() == pid
    log = function.log_text()
    assert f"the runtime restarted in place (restart {restarts})" in log
    assert "Runtime exited" not in log, "Lambda never saw the process end"
    assert "Task timed out" not in log, "every invocation was answered before its deadline"


def test_a_job_past_its_timeout_is_stopped_under_laravels_timeout_rules(start_function, sqs):
    function, pid = started_and_warm(start_function, sqs, function_timeout=6)

    # Its own timeout (2 s) on its first of 3 tries: stopped, not failed, not released.
    jobs = payloads(("Succeeds", "before-nap"), ("Sleeps", "nap", 30, 2), ("Succeeds", "after-nap"))
    queue, event, (_, nap, after) = batch(sqs, *jobs)
    response, seconds = function.timed_invoke(event)
    assert response == failures(nap, after)
    assert 1.8 < seconds < 4
    assert [function.log.did(label) for label in ["before-nap", "nap", "after-nap"]] == [["ran"], ["ran"], []]
    assert function.failed_jobs() == []
    assert nap not in queue.visible(), "a timeout is no release: the message comes back when its visibility ends"

    # On its last try (received a 3rd time): marked failed before the worker is stopped.
    last_try = payload("Sleeps", "nap-last-try", 30, 1)
    _, event, _ = batch(sqs, (last_try, 3))
    response, seconds = function.timed_invoke(event)
    assert response == failures()
    assert 0.8 < seconds < 3
    assert function.log.did("nap-last-try") == ["ran", "failed"]
    assert function.log.records("nap-last-try", "failed")[0]["exception"] == MAX_ATTEMPTS_EXCEEDED
    row = function.failed_job(last_try)
    assert (row["connection"], row["queue"]) == ("sqs", queue_url_of(event["Records"][0]["eventSourceARN"]))

    # $failOnTimeout, on its first try: failed too.
    fail_on_timeout = payload("Sleeps", "nap-fail-on-timeout", 30, 1, 1)
    _, event, _ = batch(sqs, fail_on_timeout)
    response, seconds = function.timed_invoke(event)
    assert response == failures()
    assert function.log.did("nap-fail-on-timeout") == ["ran", "failed"]
    function.failed_job(fail_on_timeout)

    assert_serves_after_restarting_in_place(function, sqs, pid, restarts=3)


def test_a_job_without_a_timeout_of_its_own_is_stopped_before_the_deadline(start_function, sqs):
    """queue.default's timeout is 60 s, but a 6 s invocation stops at 5 s: the job gets the
    whole seconds left before that, about 4."""
    function, pid = started_and_warm(start_function, sqs, function_timeout=6)
    jobs = payloads(("Succeeds", "before-long-nap"), ("Sleeps", "long-nap", 30), ("Succeeds", "after-long-nap"))
    _, event, (_, nap, after) = batch(sqs, *jobs)
    response, seconds = function.timed_invoke(event)
    assert response == failures(nap, after)
    assert 3.5 < seconds < 5.5
    assert [function.log.did(label) for label in ["before-long-nap", "long-nap", "after-long-nap"]] == [["ran"], ["ran"], []]
    assert function.failed_jobs() == []
    assert_serves_after_restarting_in_place(function, sqs, pid, restarts=1)


def test_a_job_that_blocks_the_alarm_is_stopped_by_the_watcher_before_the_deadline(start_function, sqs):
    """With PHP's async signals off, the alarm stays pending; the runtime's own watcher ends
    the job about half a margin (0.5 s) before the 6 s deadline."""
    function, pid = started_and_warm(start_function, sqs, function_timeout=6)
    jobs = payloads(("Succeeds", "before-stuck"), ("BlocksTheAlarm", "stuck", 60), ("Succeeds", "after-stuck"))
    _, event, (_, stuck, after) = batch(sqs, *jobs)
    response, seconds = function.timed_invoke(event)
    assert response == failures(stuck, after)
    assert 4.5 < seconds < 6
    assert [function.log.did(label) for label in ["before-stuck", "stuck", "after-stuck"]] == [["ran"], ["ran"], []]
    assert_serves_after_restarting_in_place(function, sqs, pid, restarts=1)


def test_records_too_late_for_the_stop_point_come_back_unrun_and_cost_no_attempt(start_function, sqs):
    """A 2 s invocation stops at 1.6 s; after a 0.7 s job, less than 1 s is left, so the
    records after it are listed unrun. The next delivery of one (received a 2nd time) is
    still its first attempt: a job with tries 1 runs, and is not failed."""
    function, _ = started_and_warm(start_function, sqs, function_timeout=2)
    jobs = payloads(("Sleeps", "first", "0.7"), ("Succeeds", "late-once", 1), ("Succeeds", "late-too"))
    queue = Queue(sqs, unique_name("late"))
    messages = queue.deliver(jobs)
    event = queue.event(messages)
    first, late, late_too = message_ids(event)
    mark = function.log.mark()
    response, seconds = function.timed_invoke(event)
    assert response == failures(late, late_too)
    assert seconds < 1.7
    assert [function.log.did(label) for label in ["first", "late-once", "late-too"]] == [["ran", "woke"], [], []]
    assert {job for name, job in function.log.events(since=mark) if name == "JobProcessing"} == {first}

    queue.make_visible(messages[1])
    (again,) = queue.receive([late])
    event = queue.event([again])
    assert event["Records"][0]["attributes"]["ApproximateReceiveCount"] == "2"
    assert function.invoke(event) == failures()
    assert [record["attempts"] for record in function.log.records("late-once", "ran")] == [1]
    assert function.log.records("late-once", "failed") == []
    assert function.failed_jobs() == []


@pytest.mark.parametrize("job", ["CallsExit", "ExhaustsMemory"])
def test_a_job_that_ends_php_gets_its_batch_answered_and_the_runtime_restarts_in_place(start_function, sqs, job):
    function, pid = started_and_warm(start_function, sqs)
    jobs = payloads(("Succeeds", "before-end"), (job, "ends"), ("Succeeds", "after-end"))
    _, event, (_, ends, after) = batch(sqs, *jobs)
    assert function.invoke(event) == failures(ends, after)
    assert [function.log.did(label) for label in ["before-end", "ends", "after-end"]] == [["ran"], ["ran"], []]
    assert function.failed_jobs() == [], "its first of 3 tries: it comes back"
    assert_serves_after_restarting_in_place(function, sqs, pid, restarts=1)
