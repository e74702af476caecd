"""A queue function of the example app under AWS's RIE, and what the tests read of it: the
example's queue log (what its jobs did, Laravel's queue events in order), and the failed-job
store, an sqlite database with Laravel's `failed_jobs` table."""

import json
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from conftest import Runtime, artisan

DEFAULT_FUNCTION = "example-default-queue"
"""The function of `queue.default` in the example's manifest: tries 3, backoff "1, 5"."""
ORDERS_FUNCTION = "example-orders-queue"
"""The function of `queue.orders`: tries 1, no backoff (queue:work's 0)."""

QUEUE_EVENTS = {"Looping", "JobProcessing", "JobProcessed", "JobExceptionOccurred", "JobFailed", "WorkerStopping"}

# Laravel's failed_jobs table (its 8.x migration), as its sqlite grammar creates it.
FAILED_JOBS_SCHEMA = """
create table failed_jobs (
    id integer primary key autoincrement not null,
    uuid varchar not null,
    connection text not null,
    queue text not null,
    payload text not null,
    exception text not null,
    failed_at datetime not null default CURRENT_TIMESTAMP
);
create unique index failed_jobs_uuid_unique on failed_jobs (uuid);
"""


def payload(job, *arguments):
    """The SQS message body Laravel makes for `new App\\Jobs\\<job>(...arguments)`."""
    exit_code, output = artisan("example:queue-payload", job, *[str(argument) for argument in arguments])
    assert exit_code == 0, output
    body = output.rstrip("\n")
    assert json.loads(body)["displayName"] == f"App\\Jobs\\{job}", body
    return body


def payloads(*jobs):
    """Several payloads, each job a tuple (job, arguments...), made two at a time."""
    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(lambda job: payload(*job), jobs))


class QueueLog:
    """The file the example app writes to when EXAMPLE_QUEUE_LOG names it: one JSON object a
    line, either a queue event (`{"event": "JobProcessing", "job": "<message id>"}`), a log
    record (`{"event": "MessageLogged", "message": …, "context": …}`), or what a job did
    (`{"job": "Throws", "label": "…", "did": "ran" | "woke" | "failed", "attempts": …}`)."""

    def __init__(self, path):
        self.path = path

    def lines(self, since=0):
        """The lines written, from line number `since` (see mark()) on."""
        if not self.path.exists():
            return []
        return [json.loads(line) for line in self.path.read_text().splitlines()[since:]]

    def mark(self):
        """Where the log ends now: lines(since=mark) are those written after."""
        return len(self.lines())

    def events(self, since=0):
        """The queue worker's events, in order, as (event, message id or None) pairs."""
        return [(line["event"], line["job"]) for line in self.lines(since) if line.get("event") in QUEUE_EVENTS]

    def did(self, label, since=0):
        """What the job labelled `label` recorded, in order: "ran", "woke", "failed"…"""
        return [line["did"] for line in self.lines(since) if "did" in line and line["label"] == label]

    def records(self, label, did, since=0):
        return [line for line in self.lines(since) if line.get("label") == label and line.get("did") == did]

    def logged(self, message, since=0):
        """The log records whose message is `message`."""
        return [line for line in self.lines(since) if line.get("event") == "MessageLogged" and line["message"] == message]


def failed_jobs_database(path):
    """An empty failed-job store at `path`."""
    with sqlite3.connect(path) as database:
        database.executescript(FAILED_JOBS_SCHEMA)
    database.close()
    return path


class QueueFunction:
    """One queue function: the runtime under the RIE with the example app, its failed-job
    store and its queue log, each its own."""

    def __init__(self, directory, aws_environment, name=DEFAULT_FUNCTION, function_timeout=30, **environment):
        directory.mkdir(parents=True, exist_ok=True)
        self.database = failed_jobs_database(directory / "failed-jobs.sqlite")
        self.log = QueueLog(directory / "queue-log.jsonl")
        self.runtime = Runtime(
            directory / "runtime",
            function_timeout=function_timeout,
            AWS_LAMBDA_FUNCTION_NAME=name,
            HOVER_FUNCTION_TYPE="queue",
            EXAMPLE_QUEUE_LOG=self.log.path,
            DB_DATABASE=self.database,
            QUEUE_FAILED_DRIVER="database-uuids",
            CACHE_DRIVER="file",
            **{**aws_environment, **environment},
        )

    def invoke(self, event):
        return self.runtime.invoke(event)

    def timed_invoke(self, event):
        """The answer and how long it took, in seconds."""
        started = time.monotonic()
        response = self.runtime.invoke(event)
        return response, time.monotonic() - started

    def failed_jobs(self):
        """The failed-job store's rows, oldest first."""
        with sqlite3.connect(self.database) as database:
            database.row_factory = sqlite3.Row
            rows = [dict(row) for row in database.execute("select * from failed_jobs order by id")]
        database.close()
        return rows

    def failed_job(self, body):
        """The failed-job store's row of the message `body`; fails unless there is exactly one."""
        rows = [row for row in self.failed_jobs() if row["payload"] == body]
        assert len(rows) == 1, rows
        return rows[0]

    def pid(self):
        return self.runtime.pid()

    def log_text(self):
        """What the runtime logged (the RIE's output, the runtime's stderr)."""
        return self.runtime.log()

    def stop(self):
        self.runtime.stop()


@pytest.fixture
def start_function(tmp_path, moto):
    """Starts queue functions (of the queue.default entry unless told otherwise) for one
    test, each its own (restarts and deaths are counted), and stops them after it."""
    started = []

    def start(**options):
        function = QueueFunction(tmp_path / f"function-{len(started)}", moto, **options)
        started.append(function)
        return function

    yield start
    for function in started:
        function.stop()
