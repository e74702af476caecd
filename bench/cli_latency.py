"""CLI invocation latency: Hover's in-process runtime against the original's subprocess.

Both runtimes run behind AWS's Runtime Interface Emulator with the example application,
side by side in one run; invocations alternate between them so that both see the same
machine. Each invocation is timed from the caller's side (the RIE round trip included), as
Lambda's caller would see it. Reported apart: init (process start to the first `/next`, as
the RIE reports it), the first invocation (init included), and the resident memory of each
runtime process (the RIE's child; for the original, its artisan subprocesses come and go).

    .venv/bin/python bench/cli_latency.py [--invocations 200] [--command hover:ping]
"""

import argparse
import pathlib
import re
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parents[1] / "tests" / "e2e"))
from conftest import ROOT, Runtime  # noqa: E402


def percentile(samples, fraction):
    ordered = sorted(samples)
    return ordered[max(0, round(fraction * len(ordered) + 0.5) - 1)]


def resident_kb(runtime):
    """Resident memory of the runtime process the RIE started."""
    children = subprocess.run(
        ["ps", "--ppid", str(runtime.process.pid), "-o", "rss="], capture_output=True, text=True, check=True
    ).stdout.split()
    return sum(int(kb) for kb in children)


def init_ms(runtime):
    """Init duration, process start to the first /next, from the RIE's INIT REPORT."""
    return float(re.search(r"INIT REPORT\(durationMs: ([\d.]+)\)", runtime.log()).group(1))


def timed(runtime, command):
    started = time.perf_counter()
    exit_code, output = runtime.command(command)
    elapsed = (time.perf_counter() - started) * 1000
    assert exit_code == 0, output
    return elapsed, output


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--invocations", type=int, default=200)
    parser.add_argument("--command", default="hover:ping")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        runtimes = {
            "hover (in-process)": Runtime(pathlib.Path(directory) / "hover"),
            "original (php artisan subprocess)": Runtime(
                pathlib.Path(directory) / "original", bootstrap=ROOT / "bench" / "original-cli-bootstrap"
            ),
        }
        try:
            first = {}
            outputs = set()
            for name, runtime in runtimes.items():
                first[name], output = timed(runtime, options.command)
                outputs.add(output)
            assert len(outputs) == 1, f"the runtimes disagree on the output: {outputs}"
            for _ in range(5):
                for runtime in runtimes.values():
                    timed(runtime, options.command)
            samples = {name: [] for name in runtimes}
            for _ in range(options.invocations):
                for name, runtime in runtimes.items():
                    samples[name].append(timed(runtime, options.command)[0])
            memory = {name: resident_kb(runtime) / 1024 for name, runtime in runtimes.items()}
            init = {name: init_ms(runtime) for name, runtime in runtimes.items()}
        finally:
            for runtime in runtimes.values():
                runtime.stop()

    print(f"`{options.command}`, {options.invocations} invocations each, through the RIE (ms)\n")
    print("| runtime | median | p90 | init | first invocation | runtime process RSS at the end |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, values in samples.items():
        print(
            f"| {name} | {percentile(values, 0.5):.2f} | {percentile(values, 0.9):.2f} | {init[name]:.0f}"
            f" | {first[name]:.0f} | {memory[name]:.1f} MB |"
        )
    hover, original = (percentile(values, 0.5) for values in samples.values())
    print(f"\nin-process is {original / hover:.1f}x faster at the median")


if __name__ == "__main__":
    main()
