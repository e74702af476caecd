"""Queue throughput, side by side in one run, for a trivial job (App\\Jobs\\Trivial):

  (a) through Hover's runtime under AWS's RIE, batches of 1 and of 10 records, as Lambda's
      SQS integration would invoke it: jobs per second and time per job as the caller sees
      it (the RIE's round trip included);
  (b) the runtime's own time per job in those batches, measured inside it
      (HOVER_LOG_TIMINGS=1: from the event received to the answer posted, divided by the
      records), without the RIE's time; and (b') the same without posting the answer (the
      RIE's accept latency, which any runtime pays once a batch);
  (c) the same job run by Laravel's own worker loop (`Worker::daemon()`, as `queue:work`
      runs it) over jobs held in memory, in one booted PHP process (bench/plain_worker.php):
      the baseline, with no queue network at all, the jobs back to back;
  (c') the same loop woken for each batch of 10 (it waits on a pipe), its batches
      alternating with the runtime's batches of 10: the baseline under the same conditions
      as the runtime, whose process also sleeps between batches while others run.

Rounds alternate between (a)/(b) and (c) so that all see the same machine. The payload is
the one Laravel itself makes for the job (`artisan example:queue-payload Trivial`).

    .venv/bin/python bench/queue_throughput.py [--batches 300] [--rounds 5]
"""

import argparse
import json
import os
import pathlib
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from conftest import EXAMPLE_APP, ROOT, Runtime, artisan  # noqa: E402

TIMINGS = re.compile(r"timings: batch of (\d+) records, (\d+) us from the event to the answer posted \(posting (\d+) us\)")
ARN = "arn:aws:sqs:us-east-1:123456789012:bench"


def median(samples):
    ordered = sorted(samples)
    return ordered[len(ordered) // 2]


def event(payload, size, batch_number):
    return {
        "Records": [
            {
                "messageId": f"m-{batch_number}-{index}",
                "receiptHandle": f"rh-{batch_number}-{index}",
                "body": payload,
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": ARN,
                "awsRegion": "us-east-1",
            }
            for index in range(size)
        ]
    }


def through_runtime(runtime, payload, size, batches, offset, between=None):
    """Sends `batches` batches of `size` (calling `between` after each); returns the
    caller's µs per job, the runtime's, and the runtime's without posting the answer."""
    log_before = len(runtime.log())
    wall = 0.0
    for number in range(batches):
        started = time.perf_counter()
        answer = runtime.invoke(event(payload, size, offset + number))
        wall += time.perf_counter() - started
        assert answer == {"batchItemFailures": []}, answer
        if between:
            between()
    timings = TIMINGS.findall(runtime.log()[log_before:])
    assert len(timings) == batches, f"{len(timings)} timings for {batches} batches"
    own = [int(us) / int(records) for records, us, _ in timings]
    work = [(int(us) - int(posting)) / int(records) for records, us, posting in timings]
    return wall * 1e6 / (batches * size), median(own), median(work)


def plain_loop(payload_file, jobs, environment, per_batch=None):
    """Laravel's worker loop over `jobs` jobs; with `per_batch`, a process that runs that
    many each time it is woken. Returns the process (woken) or µs per job (at once)."""
    command = ["php8.2", str(ROOT / "bench" / "plain_worker.php"), str(payload_file), str(jobs)]
    if per_batch:
        return subprocess.Popen(
            [*command, str(per_batch)], env=environment, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
    finished = subprocess.run(command, env=environment, capture_output=True, text=True, check=True, timeout=300)
    return json.loads(finished.stdout.strip().splitlines()[-1])["per_job_us"]


def woken_loop_result(process):
    process.stdin.close()
    output = process.stdout.read()
    process.wait(timeout=60)
    return json.loads(output.strip().splitlines()[-1])["per_job_us"]


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--batches", type=int, default=300, help="batches per size and round")
    parser.add_argument("--rounds", type=int, default=5)
    options = parser.parse_args()

    status, output = artisan("example:queue-payload", "Trivial")
    assert status == 0, output
    payload = output.strip()
    json.loads(payload)

    with tempfile.TemporaryDirectory(prefix="hover-queue-bench-") as directory:
        directory = pathlib.Path(directory)
        payload_file = directory / "payload.json"
        payload_file.write_text(payload)
        runtime_dir = directory / "hover_runtime"
        runtime_dir.mkdir()
        manifest = json.loads((EXAMPLE_APP / "hover_runtime" / "manifest.json").read_text())
        manifest["queue"] = {"bench": {"tries": 3, "timeout": 60}}
        (runtime_dir / "manifest.json").write_text(json.dumps(manifest))
        storage = directory / "plain-storage"
        for folder in ["framework/cache/data", "framework/views", "logs", "bootstrap/cache"]:
            (storage / folder).mkdir(parents=True)
        plain_environment = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LAMBDA_TASK_ROOT": str(EXAMPLE_APP),
            "HOVER_STORAGE_PATH": str(storage),
            **{name: str(value).lower() if isinstance(value, bool) else str(value) for name, value in manifest["environment"].items()},
            **{f"APP_{kind}_CACHE": str(storage / "bootstrap" / "cache" / f"{kind.lower()}.php") for kind in ["CONFIG", "SERVICES", "PACKAGES", "ROUTES", "EVENTS"]},
        }
        runtime = Runtime(
            directory / "runtime",
            function_timeout=60,
            AWS_LAMBDA_FUNCTION_NAME="example-bench-queue",
            HOVER_RUNTIME_DIR=runtime_dir,
            HOVER_LOG_TIMINGS=1,
        )
        try:
            through_runtime(runtime, payload, 10, 20, 0)  # boot, warm up
            plain_loop(payload_file, 200, plain_environment)
            results = {key: [] for key in ["batch 1", "batch 10", "own 1", "own 10", "work 1", "work 10", "plain", "woken"]}
            offset = 100
            for _ in range(options.rounds):
                for size in (1, 10):
                    woken = plain_loop(payload_file, options.batches * 10, plain_environment, per_batch=10)

                    def wake():
                        woken.stdin.write("go\n")
                        woken.stdin.flush()
                        assert woken.stdout.readline() == "done\n"

                    wall, own, work = through_runtime(
                        runtime, payload, size, options.batches, offset, between=wake if size == 10 else None
                    )
                    offset += options.batches
                    results[f"batch {size}"].append(wall)
                    results[f"own {size}"].append(own)
                    results[f"work {size}"].append(work)
                    if size == 10:
                        results["woken"].append(woken_loop_result(woken))
                    else:
                        woken.kill()
                        woken.wait()
                results["plain"].append(plain_loop(payload_file, options.batches * 10, plain_environment))
        finally:
            runtime.stop()

    per_job = {label: median(values) for label, values in results.items()}
    print(f"Trivial job, {options.rounds} rounds of {options.batches} batches per size; medians of the rounds.\n")
    print("| what | µs per job | jobs per second |")
    print("|---|---:|---:|")
    rows = [
        ("(a) through the runtime under the RIE, batches of 1", "batch 1"),
        ("(a) through the runtime under the RIE, batches of 10", "batch 10"),
        ("(b) the runtime's own time, batches of 1", "own 1"),
        ("(b) the runtime's own time, batches of 10", "own 10"),
        ("(b') the same without posting the answer, batches of 1", "work 1"),
        ("(b') the same without posting the answer, batches of 10", "work 10"),
        ("(c) Laravel's worker loop, in memory, one process, back to back", "plain"),
        ("(c') the same loop woken for each batch of 10, alternating with (a)", "woken"),
    ]
    for label, key in rows:
        print(f"| {label} | {per_job[key]:.1f} | {1e6 / per_job[key]:,.0f} |")
    print(
        f"\nper job in batches of 10: the runtime's own time {per_job['own 10'] / per_job['plain']:.2f}x the loop back "
        f"to back (c), {per_job['own 10'] / per_job['woken']:.2f}x the loop woken per batch (c'); without posting "
        f"the answer {per_job['work 10'] / per_job['plain']:.2f}x and {per_job['work 10'] / per_job['woken']:.2f}x; "
        f"as the caller sees it {per_job['batch 10'] / per_job['plain']:.2f}x (c) (target: within 1.2x)"
    )


if __name__ == "__main__":
    main()
