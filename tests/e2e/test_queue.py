"""The queue function end to end: batches received from moto's SQS, invoked through AWS's
RIE, each record run by Laravel's own Worker in the example app. What Lambda is told (the
records that must come back), what SQS sees (releases, as visibility), what Laravel did (its
events in order, failed() handlers, the failed-job store)."""

import json
import time

import pytest

from conftest import EXAMPLE_APP
from queue_functions import ORDERS_FUNCTION, QueueFunction, payload, payloads
from sqs_events import Queue, failures, message_ids, queue_url_of, sqs_client, unique_name

NOT_A_JOB = "this is not a Laravel job"


@pytest.fixture(scope="module")
def sqs(moto):
    return sqs_client(moto)


@pytest.fixture(scope="module")
def function(tmp_path_factory, moto):
    """The example's default queue function (queue.default: tries 3, backoff "1, 5")."""
    function = QueueFunction(tmp_path_factory.mktemp("default-queue"), moto)
    yield function
    function.stop()


@pytest.fixture(scope="module")
def orders(tmp_path_factory, moto):
    """The example's orders queue function (queue.orders: tries 1, no backoff)."""
    function = QueueFunction(tmp_path_factory.mktemp("orders-queue"), moto, name=ORDERS_FUNCTION)
    yield function
    function.stop()


# The mixed batch: each record's label, its job (or a body that is none), the receive count
# it arrives with, and what Laravel does with it under tries 3 and backoff "1, 5".
MIXED = [
    ("ok", ("Succeeds", "ok"), 1),  # deleted
    ("released", ("Releases", "released", 3), 1),  # released for 3 s: listed
    ("throws-tries-left", ("Throws", "throws-tries-left"), 2),  # released with backoff 5: listed
    ("throws-last-try", ("Throws", "throws-last-try"), 3),  # failed
    ("attempts-exceeded", ("Succeeds", "attempts-exceeded"), 4),  # failed unrun
    ("not-a-job", None, 1),  # threw, released with backoff 1: listed
    ("max-exceptions", ("ThrowsWithMaxExceptions", "max-exceptions", 1, 5), 1),  # failed at its 1st exception
    ("expired", ("RetryUntilPassed", "expired"), 1),  # failed unrun
    ("fails", ("Fails", "fails"), 1),  # fail(): failed
    ("deletes", ("Deletes", "deletes"), 1),  # delete(): deleted
]
LISTED = ["released", "throws-tries-left", "not-a-job"]
FAILED = ["throws-last-try", "attempts-exceeded", "max-exceptions", "expired", "fails"]
RAN = ["ok", "released", "throws-tries-left", "throws-last-try", "max-exceptions", "fails", "deletes"]
# Laravel's events for each record after Looping, as Worker::process raises them.
EVENTS = {
    "ok": ["JobProcessing", "JobProcessed"],
    "released": ["JobProcessing", "JobProcessed"],
    "throws-tries-left": ["JobProcessing", "JobExceptionOccurred"],
    "throws-last-try": ["JobProcessing", "JobFailed", "JobExceptionOccurred"],
    "attempts-exceeded": ["JobProcessing", "JobFailed", "JobExceptionOccurred"],
    "not-a-job": ["JobProcessing", "JobExceptionOccurred"],
    "max-exceptions": ["JobProcessing", "JobFailed", "JobExceptionOccurred"],
    "expired": ["JobProcessing", "JobFailed", "JobExceptionOccurred"],
    "fails": ["JobProcessing", "JobFailed", "JobProcessed"],
    "deletes": ["JobProcessing", "JobProcessed"],
}


class MixedBatch:
    """The mixed batch, invoked once for the tests that look at its outcome."""

    def __init__(self, function, sqs):
        self.labels = [label for label, _, _ in MIXED]
        jobs = payloads(*[job for _, job, _ in MIXED if job])
        bodies = iter(jobs)
        self.bodies = {label: (next(bodies) if job else NOT_A_JOB) for label, job, _ in MIXED}
        self.queue = Queue(sqs, unique_name("mixed"))
        messages = self.queue.deliver([(self.bodies[label], count) for label, _, count in MIXED])
        self.event = self.queue.event(messages)
        self.ids = dict(zip(self.labels, message_ids(self.event)))
        self.mark = function.log.mark()
        self.started = time.monotonic()
        self.response = function.invoke(self.event)
        self.answered = time.monotonic()
        # Right after the answer: which records SQS would hand out again already.
        self.visible_after_answer = self.queue.visible()


@pytest.fixture(scope="module")
def mixed(function, sqs):
    return MixedBatch(function, sqs)


def test_a_mixed_batch_lists_exactly_the_records_whose_jobs_were_not_deleted(mixed):
    assert mixed.response == failures(*[mixed.ids[label] for label in LISTED])


def test_the_batch_runs_in_one_invocation_without_waiting_for_releases(mixed):
    assert mixed.answered - mixed.started < 2.5


def test_releases_reach_sqs_as_visibility_for_the_release_delay_and_the_backoff(mixed):
    """Released: for the job's own delay (3 s); a throw on attempt 2 for the backoff's
    second value (5 s); a throw on attempt 1 for its first (1 s). Each comes back then,
    received once more."""
    released, backoff_5, backoff_1 = (mixed.ids[label] for label in ["released", "throws-tries-left", "not-a-job"])
    assert released not in mixed.visible_after_answer
    assert backoff_5 not in mixed.visible_after_answer
    seen = mixed.queue.wait_until_visible([released, backoff_5, backoff_1], timeout=mixed.started + 9 - time.monotonic())
    assert 2.8 <= seen[released][0] - mixed.started < 3 + 2.5
    assert 4.8 <= seen[backoff_5][0] - mixed.started < 5 + 2.5
    assert seen[backoff_1][0] - mixed.started < 1 + 2.5
    assert seen[released][1] == 2
    assert seen[backoff_5][1] == 3
    others = set(mixed.ids.values()) - {released, backoff_5, backoff_1}
    assert not others & set(mixed.queue.visible()), "nothing else was made visible: Lambda deletes those"


def test_failed_handlers_run_for_the_failed_jobs_only(function, mixed):
    for label in mixed.labels:
        failed = function.log.records(label, "failed", since=mixed.mark)
        assert len(failed) == (1 if label in FAILED else 0), label
    exceptions = {label: function.log.records(label, "failed", since=mixed.mark)[0]["exception"] for label in FAILED}
    assert exceptions == {
        "throws-last-try": "RuntimeException",
        "attempts-exceeded": "Illuminate\\Queue\\MaxAttemptsExceededException",
        "max-exceptions": "RuntimeException",
        "expired": "Illuminate\\Queue\\MaxAttemptsExceededException",
        "fails": "RuntimeException",
    }


def test_jobs_run_with_the_records_receive_count_as_attempts(function, mixed):
    ran = {label: function.log.records(label, "ran", since=mixed.mark) for label in mixed.labels}
    assert sorted(label for label, records in ran.items() if records) == sorted(RAN), "exceeded and expired never ran"
    attempts = {label: [r["attempts"] for r in records] for label, records in ran.items() if records}
    assert attempts == {"ok": [1], "released": [1], "throws-tries-left": [2], "throws-last-try": [3], "max-exceptions": [1], "fails": [1], "deletes": [1]}
    assert {r["message_id"] for label in RAN for r in ran[label]} == {mixed.ids[label] for label in RAN}


def test_the_failed_job_store_has_each_failed_job_with_its_raw_body_and_queue_url(function, mixed):
    url = queue_url_of(mixed.event["Records"][0]["eventSourceARN"])
    assert url == f"https://sqs.us-east-1.amazonaws.com/123456789012/{mixed.queue.name}"
    for label in FAILED:
        row = function.failed_job(mixed.bodies[label])
        assert row["connection"] == "sqs", label
        assert row["queue"] == url, label
        assert row["uuid"] == json.loads(mixed.bodies[label])["uuid"], label
        expected = "Illuminate\\Queue\\MaxAttemptsExceededException" if label in ("attempts-exceeded", "expired") else "RuntimeException"
        assert row["exception"].startswith(expected + ":"), (label, row["exception"][:200])
    stored = {row["payload"] for row in function.failed_jobs()}
    assert not stored & {mixed.bodies[label] for label in mixed.labels if label not in FAILED}


def test_laravels_events_come_in_order_with_looping_before_each_record(function, mixed):
    expected = []
    for label in mixed.labels:
        expected.append(("Looping", None))
        expected.extend((event, mixed.ids[label]) for event in EVENTS[label])
    # As Worker::daemon() with stopWhenEmpty: Looping once more before finding nothing left.
    expected.append(("Looping", None))
    events = [event for event in function.log.events(since=mixed.mark) if event[0] != "WorkerStopping"]
    assert events == expected


def test_bodies_that_are_not_laravel_jobs_follow_laravels_rules_and_never_stop_the_batch(function, sqs):
    """Not JSON, on its first try: it throws, and is released (listed). On its last try: it
    fails and is deleted (not listed). JSON that is no job, on its last try: failed, with its
    raw body in the failed-job store. A job after them still runs."""
    not_a_job_with_uuid = json.dumps({"uuid": "0f6a3c1e-8f1b-4d8e-9a51-6f1d2b7c9e01", "note": "not a job"})
    after = payload("Succeeds", "after-bodies")
    queue = Queue(sqs, unique_name("bodies"))
    messages = queue.deliver([NOT_A_JOB, (NOT_A_JOB + " either", 3), (not_a_job_with_uuid, 3), after])
    event = queue.event(messages)
    first_try, _, no_job, _ = message_ids(event)
    mark = function.log.mark()
    assert function.invoke(event) == failures(first_try)
    assert function.log.did("after-bodies", since=mark) == ["ran"]
    row = function.failed_job(not_a_job_with_uuid)
    assert row["queue"] == queue_url_of(event["Records"][0]["eventSourceARN"]) and row["connection"] == "sqs"
    assert ("JobFailed", no_job) in function.log.events(since=mark)
    assert "restarted in place" not in function.log_text(), "nothing was fatal"


def test_log_context_does_not_leak_into_the_next_job(function, sqs):
    """queue:work resets the scope before each job: Log::withContext() lasts one job."""
    with_context, plain, later = payloads(("LogsWithContext", "ctx-a"), ("LogsMessage", "plain-b"), ("LogsMessage", "plain-c"))
    queue = Queue(sqs, unique_name("context"))
    mark = function.log.mark()
    assert function.invoke(queue.event(queue.deliver([with_context, plain]))) == failures()
    assert function.invoke(queue.event(queue.deliver([later]))) == failures()
    contexts = {
        line["context"]["label"]: line["context"]
        for message in ["example job: logged with context", "example job: logged"]
        for line in function.log.logged(message, since=mark)
    }
    assert contexts == {
        "ctx-a": {"example_context": "ctx-a", "label": "ctx-a"},
        "plain-b": {"label": "plain-b"},
        "plain-c": {"label": "plain-c"},
    }


def test_each_function_takes_its_settings_from_its_manifest_entry(function, orders, sqs):
    """The same job, thrown on its first try: queue.default (tries 3, backoff 1 s) releases
    it; queue.orders (tries 1) fails it. A job's own $tries wins over the entry's, and
    queue.orders' silent backoff is queue:work's 0."""
    body, own_tries = payloads(("Throws", "by-entry"), ("Throws", "own-tries", 2))
    default_queue = Queue(sqs, unique_name("by-entry"))
    event = default_queue.event(default_queue.deliver([body]))
    assert function.invoke(event) == failures(*message_ids(event))
    assert function.log.records("by-entry", "failed") == []

    orders_queue = Queue(sqs, unique_name("by-entry"))
    event = orders_queue.event(orders_queue.deliver([body, own_tries]))
    _, own = message_ids(event)
    assert orders.invoke(event) == failures(own)
    assert len(orders.log.records("by-entry", "failed")) == 1
    assert orders.failed_job(body)["queue"] == queue_url_of(event["Records"][0]["eventSourceARN"])
    assert orders.log.records("own-tries", "failed") == []
    assert orders_queue.visible() == {own: 2}, "released with a backoff of 0: at once"


def test_a_function_without_a_manifest_entry_is_an_init_error_naming_it(start_runtime, moto, sqs):
    runtime = start_runtime(AWS_LAMBDA_FUNCTION_NAME="example-reports-queue", HOVER_FUNCTION_TYPE="queue", **moto)
    queue = Queue(sqs, unique_name("reports"))
    _, response = runtime.invoke_raw(json.dumps(queue.event(queue.deliver([payload("Succeeds", "reports")]))).encode())
    assert "batchItemFailures" not in response, response
    assert response.get("errorType", "").startswith("Hover."), response
    assert "example-reports-queue" in response["errorMessage"]
    assert str(EXAMPLE_APP / "hover_runtime" / "manifest.json") in response["errorMessage"]


def test_an_aws_cn_queue_is_released_through_its_url(function, sqs):
    """The queue URL of an aws-cn ARN ends in amazonaws.com.cn; moto finds the queue by
    account and name, so the release reaches it, and the failed-job store names that URL."""
    released, last_try = payloads(("Releases", "cn-released", 2), ("Throws", "cn-last-try"))
    queue = Queue(sqs, unique_name("cn"))
    event = queue.event(queue.deliver([released, (last_try, 3)]), partition="aws-cn", region="cn-north-1")
    released_id, _ = message_ids(event)
    started = time.monotonic()
    assert function.invoke(event) == failures(released_id)
    assert queue.visible() == {}
    seen = queue.wait_until_visible([released_id], timeout=6)
    assert 1.8 <= seen[released_id][0] - started and seen[released_id][1] == 2
    url = f"https://sqs.cn-north-1.amazonaws.com.cn/123456789012/{queue.name}"
    assert function.failed_job(last_try)["queue"] == url


def test_a_fifo_batch_stops_at_the_first_record_that_must_come_back(orders, sqs):
    """Under queue.orders (tries 1): a job that fails is deleted and the group goes on; the
    first released job is listed, and every record after it is listed unrun."""
    jobs = payloads(
        ("Succeeds", "fifo-1"),
        ("Throws", "fifo-fails"),
        ("Succeeds", "fifo-2"),
        ("Releases", "fifo-released", 0),
        ("Succeeds", "fifo-3"),
        ("Succeeds", "fifo-4"),
    )
    queue = Queue(sqs, unique_name("orders", fifo=True))
    event = queue.event(queue.deliver(jobs))
    ids = message_ids(event)
    mark = orders.log.mark()
    assert orders.invoke(event) == failures(*ids[3:])
    ran = {label: orders.log.did(label, since=mark) for label in ["fifo-1", "fifo-fails", "fifo-2", "fifo-released", "fifo-3", "fifo-4"]}
    assert ran == {
        "fifo-1": ["ran"],
        "fifo-fails": ["ran", "failed"],
        "fifo-2": ["ran"],
        "fifo-released": ["ran"],
        "fifo-3": [],
        "fifo-4": [],
    }
    processed = {job for event_name, job in orders.log.events(since=mark) if event_name == "JobProcessing"}
    assert processed == set(ids[:4])


@pytest.mark.parametrize(
    "payload_bytes",
    [
        b"[1, 2]",
        b'{"command": "list"}',
        b'{"Records": []}',
        b'{"Records": [{"messageId": "m", "receiptHandle": "r", "body": "b", "eventSource": "aws:sns", "eventSourceARN": "arn:aws:sns:us-east-1:123456789012:t"}]}',
        b"{not json",
    ],
    ids=["an array", "a CLI event", "no records", "an SNS record", "not JSON"],
)
def test_a_malformed_event_is_refused_and_the_next_batch_works(function, sqs, payload_bytes):
    _, response = function.runtime.invoke_raw(payload_bytes)
    assert response["errorType"] == "Hover.InvalidEvent", response
    pid = function.pid()
    queue = Queue(sqs, unique_name("after-malformed"))
    mark = function.log.mark()
    assert function.invoke(queue.event(queue.deliver([payload("Succeeds", "after-malformed")]))) == failures()
    assert function.log.did("after-malformed", since=mark) == ["ran"]
    assert function.pid() == pid
