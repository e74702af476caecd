#!/usr/bin/env bash
# Fuzzes every parser of outside input (the targets in fuzz/fuzz_targets) for a fixed time
# each, one after the other; fails if any target crashes (a panic, a timeout, running out
# of memory). Prints, per target, how long it ran and how many inputs it tried.
#
#   scripts/fuzz.sh [SECONDS_PER_TARGET]     (default 60; scripts/test.sh runs 20)
#
# Needs cargo-fuzz (scripts/setup.sh installs it) and only the stable toolchain:
# cargo-fuzz asks for nightly only to pass `-Zsanitizer=address`, its default. The targets
# are built with `--sanitizer none` instead, which passes no `-Z` flag, so stable rustc
# takes every flag left (the coverage instrumentation, `-Cpasses=sancov-module` and
# `-Cllvm-args=-sanitizer-coverage-*`, is stable), with no RUSTC_BOOTSTRAP. AddressSanitizer
# would add nothing here: the parsers are safe Rust, where a bad index or slice is a panic
# that libFuzzer reports as a crash anyway, and without it each target runs several times
# faster. cargo-fuzz's default debug assertions stay on, so an arithmetic overflow is a
# crash too.
#
# Each target starts from its seeds (fuzz/seeds/<target>, committed) and from what earlier
# runs kept (fuzz/corpus/<target>, not committed). A crashing input is left in
# fuzz/artifacts/<target>/; `cargo fuzz run --sanitizer none <target> <that file>` (in
# fuzz/) replays it.
set -euo pipefail
cd "$(dirname "$0")/../fuzz"

seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[1-9][0-9]*$ ]]; then
    echo "usage: scripts/fuzz.sh [SECONDS_PER_TARGET]" >&2
    exit 2
fi
if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "fuzz: cargo-fuzz is missing; scripts/setup.sh installs it" >&2
    exit 2
fi

mkdir -p ../target
logs=$(mktemp -d ../target/fuzz-logs.XXXXXX)
echo "fuzz: building the targets"
if ! cargo fuzz build --sanitizer none >"$logs/build.log" 2>&1; then
    tail -n 40 "$logs/build.log"
    echo "fuzz: the targets do not build" >&2
    exit 1
fi
crashed=()
for target in $(cargo fuzz list); do
    mkdir -p "corpus/$target"
    log="$logs/$target.log"
    status=0
    cargo fuzz run --sanitizer none "$target" "corpus/$target" "seeds/$target" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1 >"$log" 2>&1 || status=$?
    # libFuzzer's last word: "Done 123456 runs in 20 second(s)".
    done_line=$(grep -oE 'Done [0-9]+ runs in [0-9]+ second' "$log" | tail -n 1 || true)
    if [ "$status" -ne 0 ] || [ -z "$done_line" ]; then
        crashed+=("$target")
        echo "fuzz: $target CRASHED (exit status $status); the end of its log ($log):"
        tail -n 40 "$log"
    else
        runs=$(echo "$done_line" | awk '{print $2}')
        took=$(echo "$done_line" | awk '{print $5}')
        corpus=$(find "corpus/$target" -type f | wc -l)
        printf 'fuzz: %-14s %4s s  %12s runs  %8s runs/s  corpus %s, no crash\n' \
            "$target" "$took" "$runs" "$((runs / (took > 0 ? took : 1)))" "$corpus"
    fi
done

if [ "${#crashed[@]}" -gt 0 ]; then
    echo "fuzz: crashed: ${crashed[*]}" >&2
    exit 1
fi
rm -rf "$logs"
