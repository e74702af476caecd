"""HTTP invocation latency, side by side in one run, the example app's trivial route (`/`):

  (a) through Hover's runtime under AWS's RIE, as Lambda's caller sees it;
  (b) the RIE with a trivial runtime that answers at once (bench/trivial_runtime.py): the
      floor under any runtime;
  (c) the same request sent straight to the same php-fpm (the runtime's own, between
      invocations) with the same front controller and FastCGI params, by a client here;
  (d) the runtime's own time per invocation, measured inside it (HOVER_LOG_TIMINGS=1: from
      the event received to the response posted, minus the time php-fpm took).

Requests alternate between (a), (b) and (c) so that all see the same machine. Then:
php-fpm's workers recycled every 25 requests (`pm.max_requests = 25`) under --recycling
consecutive requests, counting failures; cold starts (process start to the first `/next`,
as the RIE reports it) and the memory of the runtime process plus php-fpm's; and, with
--secrets, the per-request cost of the configuration cache a secrets file makes (values
read from the environment) against the plain cache and against no cache at all, each
straight to its php-fpm.

    .venv/bin/python bench/http_latency.py [--requests 1000] [--recycling 10000] [--boots 7] [--secrets]
"""

import argparse
import json
import os
import pathlib
import re
import socket
import struct
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from conftest import EXAMPLE_APP, ROOT, Runtime  # noqa: E402
from http_events import body_of, v2  # noqa: E402

HTTP_FUNCTION = "example-production-http"
TIMINGS = re.compile(r"timings: runtime (\d+) us \(posting the answer (\d+) us\), php-fpm (\d+) us")


def percentile(samples, fraction):
    ordered = sorted(samples)
    return ordered[max(0, round(fraction * len(ordered) + 0.5) - 1)]


def fpm_socket(runtime):
    return str(runtime.fpm_dir / "php-fpm.sock")


def fastcgi_params(storage, script=ROOT / "php" / "index.php"):
    """The params the runtime sends php-fpm for `GET /` from bench's v2 event."""
    return {
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_SOFTWARE": "hover",
        "REQUEST_METHOD": "GET",
        "REQUEST_URI": "/",
        "DOCUMENT_URI": "/",
        "QUERY_STRING": "",
        "SCRIPT_FILENAME": str(script),
        "SCRIPT_NAME": "/index.php",
        "DOCUMENT_ROOT": str(EXAMPLE_APP / "public"),
        "REDIRECT_STATUS": "200",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "SERVER_NAME": "abc123.execute-api.us-east-1.amazonaws.com",
        "SERVER_PORT": "443",
        "HTTPS": "on",
        "REQUEST_SCHEME": "https",
        "REMOTE_ADDR": "198.51.100.9",
        "HTTP_HOST": "abc123.execute-api.us-east-1.amazonaws.com",
        "HTTP_X_FORWARDED_PROTO": "https",
        "HTTP_X_FORWARDED_PORT": "443",
        "HOVER_STORAGE_PATH": str(storage),
    }


def fastcgi_request(path, params):
    """One FastCGI request on a new connection, as the runtime sends it; returns stdout."""

    def record(kind, content=b""):
        return struct.pack(">BBHHBx", 1, kind, 1, len(content), 0) + content

    def pair(name, value):
        name, value = name.encode(), value.encode()
        lengths = b"".join(bytes([len(b)]) if len(b) < 128 else struct.pack(">I", len(b) | 0x80000000) for b in (name, value))
        return lengths + name + value

    payload = (
        record(1, struct.pack(">HB5x", 1, 0))
        + record(4, b"".join(pair(n, v) for n, v in params.items()))
        + record(4)
        + record(5)
    )
    with socket.socket(socket.AF_UNIX) as connection:
        connection.connect(path)
        connection.sendall(payload)
        received = b""
        while True:
            chunk = connection.recv(65536)
            if not chunk:
                break
            received += chunk
            if b"\x01\x03\x00\x01" in received:  # END_REQUEST of request 1
                break
    stdout, offset = b"", 0
    while offset + 8 <= len(received):
        _, kind, _, length, padding = struct.unpack(">BBHHB", received[offset : offset + 7])
        if kind == 6:
            stdout += received[offset + 8 : offset + 8 + length]
        offset += 8 + length + padding
    return stdout


def timed(call):
    started = time.perf_counter()
    result = call()
    return (time.perf_counter() - started) * 1000, result


def runtime_processes(runtime):
    """The runtime process and php-fpm's processes (master and workers)."""
    runtime_pid = runtime.pid()
    pids = [runtime_pid]
    for line in subprocess.run(["ps", "-e", "-o", "pid=,ppid=,comm="], capture_output=True, text=True).stdout.splitlines():
        pid, ppid, command = line.split(None, 2)
        if command.startswith("php-fpm") and int(ppid) in pids:
            pids.append(int(pid))
    # Workers are php-fpm master's children: a second pass finds them.
    for line in subprocess.run(["ps", "-e", "-o", "pid=,ppid=,comm="], capture_output=True, text=True).stdout.splitlines():
        pid, ppid, command = line.split(None, 2)
        if command.startswith("php-fpm") and int(ppid) in pids and int(pid) not in pids:
            pids.append(int(pid))
    return pids


def memory_mb(pids):
    """Resident (RSS) and proportional (PSS: shared pages split between the processes) memory."""
    rss = pss = 0
    for pid in pids:
        for line in pathlib.Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            if line.startswith("Rss:"):
                rss += int(line.split()[1])
            elif line.startswith("Pss:"):
                pss += int(line.split()[1])
    return rss / 1024, pss / 1024


def init_ms(runtime):
    return float(re.search(r"INIT REPORT\(durationMs: ([\d.]+)\)", runtime.log()).group(1))


def report(label, values):
    print(f"| {label} | {percentile(values, 0.5):.3f} | {percentile(values, 0.9):.3f} | {percentile(values, 0.99):.3f} | {len(values)} |")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--recycling", type=int, default=10000, help="requests with pm.max_requests = 25 (0: skip)")
    parser.add_argument("--boots", type=int, default=7)
    parser.add_argument("--secrets", action="store_true", help="also measure a secrets file's config cache (starts moto)")
    options = parser.parse_args()
    event = json.dumps(v2(path="/")).encode()

    with tempfile.TemporaryDirectory() as directory:
        directory = pathlib.Path(directory)

        # Cold starts and memory.
        inits, memory = [], []
        for boot in range(options.boots):
            runtime = Runtime(directory / f"boot-{boot}", AWS_LAMBDA_FUNCTION_NAME=HTTP_FUNCTION)
            try:
                assert body_of(runtime.invoke(v2(path="/"))) == b"Hello from Hover"
                inits.append(init_ms(runtime))
                for _ in range(20):
                    runtime.invoke(v2(path="/"))
                memory.append(memory_mb(runtime_processes(runtime)))
            finally:
                runtime.stop()

        hover = Runtime(directory / "hover", AWS_LAMBDA_FUNCTION_NAME=HTTP_FUNCTION, HOVER_LOG_TIMINGS=1)
        trivial = Runtime(directory / "trivial", bootstrap=ROOT / "bench" / "trivial-bootstrap")
        try:
            params = fastcgi_params(hover.storage)
            socket_path = fpm_socket(hover)
            for _ in range(50):
                hover.invoke_raw(event)
                trivial.invoke_raw(event)
                fastcgi_request(socket_path, params)
            assert b"Hello from Hover" in fastcgi_request(socket_path, params)
            skip = hover.log().count("timings: ")
            samples = {"a": [], "b": [], "c": []}
            for _ in range(options.requests):
                elapsed, (_, response) = timed(lambda: hover.invoke_raw(event))
                assert response["statusCode"] == 200, response
                samples["a"].append(elapsed)
                samples["b"].append(timed(lambda: trivial.invoke_raw(event))[0])
                samples["c"].append(timed(lambda: fastcgi_request(socket_path, params))[0])
            time.sleep(0.2)
            timings = list(TIMINGS.finditer(hover.log()))[skip:]
            own = [int(m.group(1)) / 1000 for m in timings]
            posting = [int(m.group(2)) / 1000 for m in timings]
            work = [(int(m.group(1)) - int(m.group(2))) / 1000 for m in timings]
        finally:
            hover.stop()
            trivial.stop()

        failures = 0
        if options.recycling:
            runtime_dir = directory / "recycling-runtime"
            runtime_dir.mkdir()
            (runtime_dir / "manifest.json").write_text((EXAMPLE_APP / "hover_runtime" / "manifest.json").read_text())
            (runtime_dir / "php-fpm.conf").write_text("pm.max_requests = 25\n")
            recycling = Runtime(directory / "recycling", AWS_LAMBDA_FUNCTION_NAME=HTTP_FUNCTION, HOVER_RUNTIME_DIR=runtime_dir)
            workers = set()
            try:
                for _ in range(options.recycling):
                    _, response = recycling.invoke_raw(json.dumps(v2(path="/pid")).encode())
                    if not isinstance(response, dict) or response.get("statusCode") != 200:
                        failures += 1
                    else:
                        workers.add(json.loads(body_of(response))["pid"])
            finally:
                recycling.stop()

        secrets_rows, loads = [], {}
        if options.secrets:
            secrets_rows, loads = measure_secrets(directory, options.requests)

    print(f"HTTP invocations of `GET /` (the example app's trivial route), {options.requests} each, alternating (ms)\n")
    print("| what | median | p90 | p99 | n |")
    print("|---|---:|---:|---:|---:|")
    report("(a) through Hover's runtime under the RIE", samples["a"])
    report("(b) the RIE with a trivial runtime", samples["b"])
    report("(c) straight to the same php-fpm, same front controller and params", samples["c"])
    report("(d) the runtime's own time per invocation, measured inside it", own)
    report("(d1) of which posting the answer to the Runtime API (until the RIE accepts it)", posting)
    report("(d2) of which the runtime's work: event to FastCGI, output to response", work)
    print()
    print(f"cold start, process start to the first /next (RIE's init report, {options.boots} boots): median {percentile(inits, 0.5):.0f} ms, min {min(inits):.0f} ms")
    rss = [m[0] for m in memory]
    pss = [m[1] for m in memory]
    print(f"memory after 21 requests, runtime process + php-fpm master + worker: RSS median {percentile(rss, 0.5):.1f} MB, PSS median {percentile(pss, 0.5):.1f} MB")
    if options.recycling:
        print(f"pm.max_requests = 25: {options.recycling} consecutive requests, {failures} failed, {len(workers)} workers served them")
    if secrets_rows:
        print("\nThe configuration cache's cost per request, straight to php-fpm (ms)\n")
        print("| configuration | median | p90 | p99 | n |")
        print("|---|---:|---:|---:|---:|")
        for label, values in secrets_rows:
            report(label, values)
        print("\nThe cache's `require` alone, timed by php-fpm under OPcache (median of 21 medians of 201):\n")
        for label, microseconds in loads.items():
            print(f"- {label}: {microseconds:.2f} us")


def measure_secrets(directory, requests):
    """Three HTTP runtimes side by side: the plain cache, a secrets file's cache, and no
    cache (the file removed after init, so php-fpm's workers read config/ on every
    request). Requests go straight to each one's php-fpm, alternating; then php-fpm times
    the cache's `require` itself in each (bench/config_cache_load.php)."""
    from conftest import hover_secrets, kms_client, start_moto
    from test_secrets import Stage

    moto, aws = start_moto(directory / "moto.log")
    runtimes = {}
    try:
        stage = Stage(kms_client(aws), directory / "secrets")
        plaintext = b"APP_KEY=base64:8Gk2dbq2XJK6X7vTE1cZ0pDNkF8nM8ZsWxkbDy5b1nE=\nDB_PASSWORD=s3cr3t-bench-password\nDATABASE_URL=mysql://app:s3cr3t-bench-password@db/app\nMAIL_PASSWORD=mail-bench-pw\nPRIVATE_KEY=bench-private-key\n"
        status, encrypted, stderr = hover_secrets(aws, "encrypt", "--stage", stage.name, "-", stdin=plaintext)
        assert status == 0, stderr
        stage.secrets_file.write_bytes(encrypted)
        kinds = {
            "plain cache file (no secrets)": {},
            "secrets file: secret values read from the environment": {"HOVER_RUNTIME_DIR": stage.runtime_dir, **aws},
            "no cache: config/ read on every request": {},
        }
        for label, options in kinds.items():
            runtime = Runtime(directory / f"config-{len(runtimes)}", AWS_LAMBDA_FUNCTION_NAME=HTTP_FUNCTION, **options)
            runtimes[label] = runtime
            assert runtime.invoke(v2(path="/"))["statusCode"] == 200, runtime.log()
            cache = runtime.storage / "bootstrap" / "cache" / "config.php"
            assert cache.exists(), runtime.log()
            if label.startswith("no cache"):
                cache.unlink()
        assert "getenv(" in (runtimes[list(kinds)[1]].storage / "bootstrap" / "cache" / "config.php").read_text()
        params = {label: fastcgi_params(runtime.storage) for label, runtime in runtimes.items()}
        for _ in range(100):
            for label, runtime in runtimes.items():
                fastcgi_request(fpm_socket(runtime), params[label])
        rows = {label: [] for label in runtimes}
        for _ in range(requests):
            for label, runtime in runtimes.items():
                rows[label].append(timed(lambda: fastcgi_request(fpm_socket(runtime), params[label]))[0])
        loads = {}
        for label, runtime in list(runtimes.items())[:2]:
            script = fastcgi_params(runtime.storage, ROOT / "bench" / "config_cache_load.php")
            medians = [float(fastcgi_request(fpm_socket(runtime), script).split(b"\r\n\r\n", 1)[1]) for _ in range(21)]
            loads[label] = percentile(medians, 0.5)
        return list(rows.items()), loads
    finally:
        for runtime in runtimes.values():
            runtime.stop()
        moto.terminate()
        moto.wait(timeout=10)


if __name__ == "__main__":
    main()
