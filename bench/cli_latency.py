"""CLI invocation latency: Hover's runtime (each command in a fork of the booted application)
against the original's `php artisan` subprocess, in its plain and its strongest form.

All runtimes run behind AWS's Runtime Interface Emulator with the example application, side
by side in one run; invocations alternate between them so that all see the same machine.
Each invocation is timed from the caller's side (the RIE round trip included), as Lambda's
caller would see it. Reported apart: init (process start to the first `/next`, as the RIE
reports it), the first invocation (init included), and the resident memory of each runtime
process (the RIE's child; the commands' processes come and go).

The runtimes:
- hover: this checkout's build (target/release/libhover.so, php/bootstrap.php);
- hover at DIR, with --compare-build DIR (repeatable): another build of this repository, a
  folder holding its libhover.so and its php/ (e.g. a `git worktree` of an older commit,
  built with `cargo build --release`), to measure a change side by side;
- original: bench/original_cli_runtime.php, which works like the original runtime, a
  `php artisan <command> --no-interaction` subprocess per invocation, OPcache off for the
  CLI as Debian ships it;
- original + OPcache file cache: the same, with what the original's php.ini meant to do
  (its folder was never created, so it never worked): OPcache on for the CLI with a file
  cache in a folder that exists, so each subprocess loads compiled scripts from disk.

    .venv/bin/python bench/cli_latency.py [--invocations 200] [--boots 7] [--command hover:ping]
                                          [--compare-build DIR]
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
    parser.add_argument("--boots", type=int, default=7, help="cold starts of each runtime")
    parser.add_argument("--compare-build", action="append", default=[], metavar="DIR")
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as directory:
        directory = pathlib.Path(directory)
        opcache_ini = directory / "opcache-ini"
        opcache_ini.mkdir()
        (directory / "opcache").mkdir()
        (opcache_ini / "opcache.ini").write_text(
            f"opcache.enable_cli=1\nopcache.file_cache={directory / 'opcache'}\nopcache.validate_timestamps=0\n"
        )
        original = ROOT / "bench" / "original-cli-bootstrap"

        def start_all(label):
            """A fresh set of the runtimes, under directory/label."""
            runtimes = {"hover": Runtime(directory / label / "hover")}
            for index, build in enumerate(options.compare_build):
                build = pathlib.Path(build).resolve()
                runtimes[f"hover at {build}"] = Runtime(
                    directory / label / f"compare-{index}",
                    HOVER_EXTENSION=build / "libhover.so"
                    if (build / "libhover.so").exists()
                    else build / "target" / "release" / "libhover.so",
                    HOVER_BOOTSTRAP=build / "php" / "bootstrap.php",
                )
            runtimes["original (php artisan)"] = Runtime(directory / label / "original", bootstrap=original)
            runtimes["original + OPcache file cache"] = Runtime(
                directory / label / "original-opcache", bootstrap=original, PHP_INI_SCAN_DIR=f":{opcache_ini}"
            )
            return runtimes

        # Cold starts: each runtime booted --boots times, alternating; init as the RIE
        # reports it, and the first invocation (init included) as the caller sees it.
        init, first = {}, {}
        outputs = set()
        for boot in range(options.boots):
            runtimes = start_all(f"boot-{boot}")
            try:
                for name, runtime in runtimes.items():
                    elapsed, output = timed(runtime, options.command)
                    outputs.add(output)
                    first.setdefault(name, []).append(elapsed)
                    init.setdefault(name, []).append(init_ms(runtime))
            finally:
                for runtime in runtimes.values():
                    runtime.stop()
        assert len(outputs) == 1, f"the runtimes disagree on the output: {outputs}"

        runtimes = start_all("warm")
        try:
            for _ in range(5):
                for runtime in runtimes.values():
                    timed(runtime, options.command)
            samples = {name: [] for name in runtimes}
            for _ in range(options.invocations):
                for name, runtime in runtimes.items():
                    samples[name].append(timed(runtime, options.command)[0])
            memory = {name: resident_kb(runtime) / 1024 for name, runtime in runtimes.items()}
        finally:
            for runtime in runtimes.values():
                runtime.stop()

    print(
        f"`{options.command}`, {options.invocations} warm invocations each and {options.boots} cold starts,"
        " through the RIE (ms; init and first invocation: medians of the cold starts)\n"
    )
    print("| runtime | median | p90 | init | first invocation | runtime process RSS at the end |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, values in samples.items():
        print(
            f"| {name} | {percentile(values, 0.5):.2f} | {percentile(values, 0.9):.2f}"
            f" | {percentile(init[name], 0.5):.0f} | {percentile(first[name], 0.5):.0f} | {memory[name]:.1f} MB |"
        )
    hover = percentile(samples["hover"], 0.5)
    print()
    for name, values in samples.items():
        if name != "hover":
            print(f"hover is {percentile(values, 0.5) / hover:.1f}x as fast as {name} at the median")


if __name__ == "__main__":
    main()
