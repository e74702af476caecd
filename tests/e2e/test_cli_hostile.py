"""Hostile and careless commands against the CLI function: what a command does to the
process it runs in, to its parent, to its output and to the deadline, and what the
runtime must still guarantee (one answer per invocation, nothing reaching a later
invocation, the output `php artisan <cmd> --no-interaction 2>&1` gives, a runtime that
keeps serving).

The commands are `hover:hostile <action>` (example-app/app/Console/Commands/Hostile.php)
and `hover:boot-random` (BootRandom.php).

Each test guards against a way found to break the runtime; the docstrings of those that
found a bug say what it was ("Found:") and so what must not come back.
"""

import base64
import json
import os
import signal
import subprocess
import time

import pytest

from conftest import Runtime, artisan, process_is_gone

# What a response carries at most: Lambda's 6 MB, less the JSON around the output, in base64.
MAX_OUTPUT = (6 * 1024 * 1024 - 64) // 4 * 3


@pytest.fixture(scope="module")
def hostile(tmp_path_factory):
    runtime = Runtime(tmp_path_factory.mktemp("hostile"), function_timeout=30)
    yield runtime
    runtime.stop()


def run(runtime, line):
    """Invokes a command line; returns the exit code and the output as bytes."""
    response = runtime.invoke({"command": line})
    assert set(response) == {"exit_code", "output"}, response
    return response["exit_code"], base64.b64decode(response["output"])


def facts(runtime, *arguments):
    exit_code, output = run(runtime, " ".join(["hover:hostile facts", *arguments]))
    assert exit_code == 0, output
    return json.loads(output)


def oracle_facts(*arguments):
    exit_code, output = artisan("hover:hostile", "facts", *arguments)
    assert exit_code == 0, output
    return json.loads(output)


def wait_until_gone(pid, seconds=5):
    deadline = time.monotonic() + seconds
    while not process_is_gone(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    return process_is_gone(pid)


def read_pid(path, seconds=5):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if path.exists() and path.read_text().strip():
            return int(path.read_text())
        time.sleep(0.02)
    raise AssertionError(f"{path} was never written")


def kill_if_alive(pid):
    """Ends a process this test made a command start (so a failing test leaves nothing)."""
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def runtime_status(pid):
    status = open(f"/proc/{pid}/status").read().splitlines()
    field = lambda name: int(next(line for line in status if line.startswith(name + ":")).split()[1])  # noqa: E731
    children = subprocess.run(["ps", "--ppid", str(pid), "-o", "stat="], capture_output=True, text=True).stdout.split()
    return {
        "rss_kb": field("VmRSS"),
        "threads": field("Threads"),
        "fds": len(os.listdir(f"/proc/{pid}/fd")),
        # Ended commands' processes are reaped when the next one is forked, not waited
        # for: a zombie or two may be there between invocations, never more.
        "children": len([stat for stat in children if not stat.startswith("Z")]),
        "zombies": len([stat for stat in children if stat.startswith("Z")]),
    }


# --- processes that escape the command's process group ------------------------------------


def test_a_daemon_started_by_a_command_does_not_outlive_the_invocation(hostile, tmp_path):
    """Found: a child that calls setsid() leaves the command's process group, and the
    runtime only kills that group (crates/hover-core/src/process.rs, `kill_group`: one
    `kill_process_group(pid)`). The daemon keeps running in the container, across later
    invocations, as long as it likes. Fix: make the runtime a child subreaper
    (PR_SET_CHILD_SUBREAPER) so orphaned descendants are re-parented to it, and after each
    command kill every remaining child of the runtime (they are all the command's); or put
    each command in a cgroup and kill the cgroup."""
    pidfile = tmp_path / "daemon"
    daemon = None
    try:
        assert run(hostile, f"hover:hostile escape {pidfile}") == (0, b"escaped\n")
        daemon = read_pid(pidfile)
        assert run(hostile, "hover:greet Next") == (0, b"Hello, Next!\n")
        assert wait_until_gone(daemon), "the daemon the command started still runs after its invocation"
    finally:
        if daemon:
            kill_if_alive(daemon)


def test_a_daemon_that_holds_the_output_open_does_not_hold_the_answer(start_runtime, tmp_path):
    """Regression guard: a daemon outside the group that keeps the output pipe open and
    keeps writing delays the answer by the drain grace only, even with Lambda's shortest
    timeout; what it writes later reaches no later invocation."""
    runtime = start_runtime(function_timeout=1)
    pidfile = tmp_path / "daemon"
    daemon = None
    try:
        started = time.monotonic()
        assert run(runtime, f"hover:hostile escape {pidfile} --n=1") == (0, b"escaped\n")
        assert time.monotonic() - started < 0.9
        daemon = read_pid(pidfile)
        time.sleep(1.2)  # the daemon writes once a second
        for _ in range(3):
            assert run(runtime, "hover:greet Next") == (0, b"Hello, Next!\n")
        assert "Task timed out" not in runtime.log()
    finally:
        if daemon:
            kill_if_alive(daemon)


def test_a_command_that_leaves_its_process_group_is_still_stopped_and_the_runtime_serves_on(start_runtime, tmp_path):
    """Found: the command moves itself into its parent's process group
    (`posix_setpgid(0, getpgid(getppid()))`) and sleeps past the stop point. At the stop
    point `kill_group` signals the command's old group, which is empty (ESRCH, ignored),
    so the command is not killed; the runtime then posts the timeout and drops
    `CommandProcess`, whose `Drop` (process.rs) calls the *blocking* `reap()` (waitpid
    without WNOHANG) on a process nobody killed. The runtime hangs in wait4 until the
    command ends by itself: it never calls /next, Lambda times the invocation out ("Task
    timed out", the emulator's answer replaces Hover.CommandTimeout) and resets the
    sandbox. Fix: kill the command process itself too, through its pidfd
    (pidfd_send_signal SIGKILL, safe before it is reaped) or kill(pid) while unreaped, as
    well as its group; never block unbounded in `reap` (WNOHANG with a bounded wait)."""
    runtime = start_runtime(function_timeout=4)
    assert run(runtime, "hover:greet First") == (0, b"Hello, First!\n")
    pid = runtime.pid()
    pidfile = tmp_path / "command"
    command = None
    try:
        response = runtime.invoke({"command": f"hover:hostile leave-group {pidfile} --n=20"})
        command = read_pid(pidfile)
        assert isinstance(response, dict) and response.get("errorType") == "Hover.CommandTimeout", response
        assert wait_until_gone(command, 3), "the command runs on past its deadline"
        started = time.monotonic()
        assert run(runtime, "hover:greet Next") == (0, b"Hello, Next!\n")
        assert time.monotonic() - started < 2
        assert runtime.pid() == pid, "the runtime was killed and started again"
        assert "Task timed out" not in runtime.log()
    finally:
        if command:
            kill_if_alive(command)


def test_what_a_forked_child_leaves_behind_is_reaped(hostile):
    """Regression guard: children that exit and are never waited for are handed to the
    runtime when the command's process ends (it is their reaper), and reaped after the
    next invocation at the latest: zombies never pile up, and no child but the spare lives
    between invocations."""
    pid = hostile.pid()
    for _ in range(5):
        assert run(hostile, "hover:hostile zombies --n=20") == (0, b"forked 20\n")
    assert run(hostile, "hover:greet After") == (0, b"Hello, After!\n")
    time.sleep(0.3)
    status = runtime_status(pid)
    assert status["children"] == 1, ("only the spare waiting for the next command", status)
    assert status["zombies"] <= 2, status


def test_a_command_that_execs_another_program_is_answered_with_its_status(hostile):
    """Regression guard: pcntl_exec replaces the command's process; its output and status
    are the answer, as with php artisan."""
    expected = artisan("hover:hostile", "exec")
    assert expected == (5, "before exec\nfrom sh\n"), "the oracle works"
    exit_code, output = run(hostile, "hover:hostile exec")
    assert (exit_code, output.decode()) == expected


# --- stopped processes and deadlines ---------------------------------------------------------


def test_a_command_that_stops_itself_is_answered_at_the_stop_point(start_runtime):
    """Regression guard: SIGSTOP never makes the exit readable; the stop point kills the
    stopped group (SIGKILL reaches stopped processes) and answers in time."""
    runtime = start_runtime(function_timeout=3)
    assert run(runtime, "hover:greet First")[0] == 0
    pid = runtime.pid()
    started = time.monotonic()
    response = runtime.invoke({"command": "hover:hostile stop-self"})
    assert response["errorType"] == "Hover.CommandTimeout", response
    assert response["errorMessage"].endswith("its last output: stopping myself\n")
    assert time.monotonic() - started < 2.95
    assert run(runtime, "hover:greet Next") == (0, b"Hello, Next!\n")
    assert runtime.pid() == pid
    assert "Task timed out" not in runtime.log()


def test_the_shortest_timeout_stops_a_stopped_command_in_time(start_runtime):
    """Regression guard: with Lambda's 1 s minimum timeout, a stopped command is answered
    with Hover.CommandTimeout before Lambda's own timeout, and the runtime serves on."""
    runtime = start_runtime(function_timeout=1)
    assert run(runtime, "hover:greet First")[0] == 0
    response = runtime.invoke({"command": "hover:hostile stop-self"})
    assert response["errorType"] == "Hover.CommandTimeout", response
    assert run(runtime, "hover:greet Next") == (0, b"Hello, Next!\n")
    assert "Task timed out" not in runtime.log()


# --- signals to the runtime ----------------------------------------------------------------


@pytest.mark.parametrize("name", ["SIGUSR1", "SIGUSR2", "SIGHUP", "SIGVTALRM", "SIGPROF"])
def test_a_signal_a_command_sends_its_parent_does_not_end_the_runtime(start_runtime, name):
    """Found (low severity; the original's PHP loop died the same way): a command that
    signals its parent (`posix_kill(posix_getppid(), SIGUSR1)`, as code written for a
    supervisor does) ends the runtime, whose disposition for these signals is the default
    (terminate). The invocation is answered by Lambda (Runtime.ExitError), not with the
    command's result, and the sandbox starts cold. Only SIGALRM is ignored today
    (process.rs `ignore_alarms`, called from runtime.rs `serve`). Fix: ignore, in the
    runtime process only, the signals nothing in the runtime uses (SIGHUP, SIGUSR1,
    SIGUSR2, SIGVTALRM, SIGPROF, SIGINT; SIGTERM deserves a handler for Lambda's
    shutdown) and restore SIG_DFL in `become_command`, as is done for SIGALRM."""
    runtime = start_runtime(function_timeout=10)
    assert run(runtime, "hover:greet First")[0] == 0
    pid = runtime.pid()
    response = runtime.invoke({"command": f"hover:hostile signal-parent {name}"})
    assert response.get("exit_code") == 0, response
    assert base64.b64decode(response["output"]) == f"signalling my parent with {name}\nstill here\n".encode()
    assert runtime.pid() == pid


def test_a_command_that_shuts_down_inherited_sockets_does_not_lose_answers(hostile):
    """Regression guard: the command shuts down (shutdown(2), which unlike close reaches
    the parent's socket) every socket it inherited, the runtime's Runtime API connection
    among them; the runtime still answers this invocation and the next ones."""
    exit_code, output = run(hostile, "hover:hostile close-inherited")
    assert exit_code == 0 and output.startswith(b"shut down "), output
    for _ in range(3):
        assert run(hostile, "hover:greet Next") == (0, b"Hello, Next!\n")


# --- what the command sees, compared with php artisan ---------------------------------------


def test_the_env_option_selects_the_environment_as_php_artisan_does(hostile):
    """Found: `php artisan <cmd> --env=staging` runs in the `staging` environment (Laravel
    reads `--env` from `$_SERVER['argv']` in Application::detectEnvironment while it
    boots, and loads `.env.staging`); the runtime booted once, with its own argv, so the
    option is ignored and the command runs as `production`. Fix: in the child, when the
    tokens hold `--env`, build and bootstrap a fresh application from bootstrap/app.php
    after setting `$_SERVER['argv']` (the boot cost only for those commands), or at least
    re-run `detectEnvironment` (which would still miss `.env.<env>`)."""
    assert oracle_facts("--env=staging")["environment"] == "staging", "the oracle works"
    assert facts(hostile, "--env=staging")["environment"] == "staging"


def test_the_no_interaction_option_is_set_as_php_artisan_sets_it(hostile):
    """Found: the original ran `php artisan <cmd> --no-interaction`, so
    `$this->option('no-interaction')` is true in every command; php/src/Cli/
    CommandHandler.php `run()` builds argv without it and only calls
    `$input->setInteractive(false)`, so the option reads false (and `$_SERVER['argv']`
    lacks it). Commands and packages that test the option behave differently. Fix: append
    `--no-interaction` to the argv (as the original did) unless the line has it or `-n`."""
    expected = oracle_facts()
    seen = facts(hostile)
    assert seen["interactive"] == expected["interactive"] is False
    assert seen["no-interaction"] == expected["no-interaction"] is True


def test_laravel_start_is_defined_for_each_command(hostile):
    """Found: Laravel's `artisan` defines LARAVEL_START (microtime at process start), and
    application code and packages read it (timing, log processors); the runtime never
    defines it, so such a command dies with `Undefined constant "LARAVEL_START"`. Fix:
    in the child (CommandHandler::run), `define('LARAVEL_START', microtime(true))`; it
    cannot be defined in the booted parent, or every command would get the boot's time."""
    assert oracle_facts()["laravel_start"] is True, "the oracle works"
    assert facts(hostile)["laravel_start"] is True


def test_request_time_is_the_invocations_not_the_runtimes_start(hostile):
    """Found: `$_SERVER['REQUEST_TIME']` and `REQUEST_TIME_FLOAT` are set once, when the
    runtime process started; every command forked later sees that time, hours old in a
    warm container (php artisan sees its own start). Code that takes it as "now" (request
    start, durations, Symfony's Request) is wrong. Fix: set both in the child, in
    CommandHandler::run, before the command runs."""
    assert run(hostile, "hover:greet Warm")[0] == 0
    time.sleep(2.5)
    assert oracle_facts()["request_time_age"] <= 1, "the oracle works"
    assert facts(hostile)["request_time_age"] <= 1


def test_random_sequences_differ_between_invocations(hostile):
    """Found: PHP seeds its Mersenne Twister on first use. Once anything in the booted
    parent has drawn a number (here a command's constructor, run when the runtime builds
    Artisan in `prepareForForking`; equally a service provider, a config file, Arr::random
    or shuffle at boot), every forked command starts from the same generator state:
    mt_rand(), rand(), shuffle(), array_rand(), str_shuffle(), Arr::random give the same
    "random" values in every invocation (random_int, random_bytes are fine). php artisan
    seeded per process. Fix: reseed in the child right after the fork (`mt_srand()` with
    no argument picks a random seed; natively, also reset the combined LCG's seeded flag
    for lcg_value and uniqid(more_entropy))."""
    draws = set()
    for _ in range(3):
        exit_code, output = run(hostile, "hover:boot-random")
        assert exit_code == 0, output
        draws.add(json.loads(output)[0])
    assert len(draws) == 3, "mt_rand() gave the same first number in every invocation"


def test_the_process_facts_a_command_reads_are_php_artisans(hostile):
    """Regression guard: getmypid() is the command's own pid (not the runtime's, which a
    cached pid would give), argc matches argv, and input is not interactive."""
    seen = facts(hostile)
    assert seen["getmypid"] is True and seen["argc"] is True and seen["interactive"] is False


@pytest.mark.parametrize(
    "line",
    [
        "",
        "-q hover:greet Quiet",
        "hover:greet Loud -vvv",
        "hover:greet Colour --ansi",
        "hover:greet Twice --no-interaction --no-interaction",
        "hover:hostile shutdown-exit --n=7",
        "hover:hostile destructor-exit --n=8",
    ],
)
def test_options_and_odd_endings_are_answered_as_php_artisan_gives_them(hostile, line):
    """Regression guard: the empty line (artisan's list), quiet, verbose, ANSI, a repeated
    --no-interaction, exit() in a shutdown function and in a destructor."""
    expected = artisan(*line.split())
    exit_code, output = run(hostile, line)
    assert (exit_code, output.decode()) == expected


def test_a_fatal_error_in_a_shutdown_function_is_answered_as_php_artisan_gives_it(hostile):
    """Regression guard: status 255 and PHP's fatal error line after the output."""
    expected_code, expected_output = artisan("hover:hostile", "shutdown-fatal")
    exit_code, output = run(hostile, "hover:hostile shutdown-fatal")
    assert exit_code == expected_code == 255
    assert output.decode().splitlines()[:3] == expected_output.splitlines()[:3]
    assert b"PHP Fatal error:  Uncaught Error: Call to undefined function" in output
    assert run(hostile, "hover:greet Next") == (0, b"Hello, Next!\n")


# --- output edge cases -----------------------------------------------------------------------


def test_nul_bytes_invalid_utf8_and_no_final_newline_come_back_byte_for_byte(hostile):
    """Regression guard: the output is bytes, not text. (The conftest oracle decodes
    its output as UTF-8, so the expected bytes are spelled out.)"""
    expected = b"a\0b\xff\xfe\xc3(\r\nlast line without newline"  # what php artisan writes (checked by hand)
    assert run(hostile, "hover:hostile bytes") == (0, expected)
    assert "last line without newline" in hostile.log()


def test_a_single_ten_megabyte_line_is_cut_for_the_response_and_the_log(hostile):
    """Regression guard: one 10 MB line without a newline: the response keeps its start
    and end within the limit, the log gets it in pieces, the runtime serves on."""
    exit_code, output = run(hostile, f"hover:hostile write --n={10 * 1024 * 1024}")
    assert exit_code == 0
    assert len(output) <= MAX_OUTPUT
    assert output.startswith(b"y" * 100000) and output.endswith(b"y" * 100000)
    assert b"bytes of output left out here" in output
    assert run(hostile, "hover:greet Next") == (0, b"Hello, Next!\n")


@pytest.mark.parametrize("size", [MAX_OUTPUT - 512, MAX_OUTPUT - 511, MAX_OUTPUT])
def test_an_output_that_fits_a_response_is_returned_whole(hostile, size):
    """FAILS for MAX_OUTPUT - 511 and MAX_OUTPUT: crates/hover-core/src/cli/output.rs keeps
    HEAD + TAIL = MAX_OUTPUT - NOTE_ROOM bytes, so an output of 4718033..4718544 bytes,
    which fits a response whole (the note itself says "a Lambda response carries at most
    4718544 bytes of output"), is cut: one byte left out is replaced by a ~145-byte note,
    and the response is *longer* than the output. Fix: truncate only when total >
    MAX_OUTPUT (keep everything up to MAX_OUTPUT, e.g. a head buffer of MAX_OUTPUT and
    the tail kept from there on), and make the head MAX_OUTPUT - TAIL - note length only
    once truncation is certain."""
    exit_code, output = run(hostile, f"hover:hostile write --n={size}")
    assert exit_code == 0
    assert len(output) == size and output == b"y" * size, f"{len(output)} bytes came back"


def test_an_output_just_past_the_limit_keeps_its_ends_within_the_limit(hostile):
    """Regression guard: one byte over, the response still fits."""
    exit_code, output = run(hostile, f"hover:hostile write lines --n={MAX_OUTPUT + 1}")
    assert exit_code == 0
    assert len(output) <= MAX_OUTPUT
    assert output.startswith(b"y" * 1023 + b"\n")
    assert b"bytes of output left out here" in output


def test_many_short_lines_do_not_slow_a_command_tenfold(hostile):
    """Found (performance, cost): every line is one log record written with its own
    write(2) on stderr, synchronously in the loop that drains the pipe
    (crates/hover-core/src/cli/mod.rs `run`, the `log_line` closure, per line of
    `OutputLines::feed`). 4 MB of two-byte lines (2 million records, ~170 MB of log:
    35x amplification) takes ~3.6 s here against ~0.2 s for php artisan; the command
    blocks on the full pipe meanwhile, so a command that fits its timeout under php
    artisan can time out here. Fix: format every complete line of one read into one
    buffer and write it with a single write (or writev), and consider capping the
    records per invocation."""
    started = time.monotonic()
    exit_code, output = run(hostile, "hover:hostile short-lines --n=4000000")
    elapsed = time.monotonic() - started
    assert exit_code == 0 and len(output) == 4000000
    assert elapsed < 2.0, f"{elapsed:.2f} s for 4 MB of short lines (php artisan: ~0.2 s)"


# --- event edge cases ------------------------------------------------------------------------


def test_a_command_line_of_exactly_the_limit_is_run(hostile):
    """Regression guard: 8192 bytes is accepted (ASCII and multibyte), 8193 is refused."""
    line = "hover:greet " + "a" * (8192 - len("hover:greet "))
    assert len(line.encode()) == 8192
    exit_code, output = run(hostile, line)
    assert exit_code == 0 and output == b"Hello, " + b"a" * 8180 + b"!\n"
    multibyte = "hover:greet " + "é" * ((8192 - len("hover:greet ")) // 2)
    assert len(multibyte.encode()) == 8192
    exit_code, output = run(hostile, multibyte)
    assert exit_code == 0 and output.decode() == "Hello, " + "é" * 4090 + "!\n"
    response = hostile.invoke({"command": line + "a"})
    assert response["errorType"] == "Hover.InvalidEvent", response


def test_a_command_line_with_a_nul_byte_or_an_unbalanced_quote_is_answered(hostile):
    """Regression guard: odd lines are answered and leave the runtime serving."""
    exit_code, output = run(hostile, "hover:greet 'unbalanced")
    assert exit_code == 0, output
    response = hostile.invoke({"command": "hover:greet a\u0000b"})
    assert "exit_code" in response, response
    assert run(hostile, "hover:greet Next") == (0, b"Hello, Next!\n")


# --- the runtime over many invocations ------------------------------------------------------


def test_the_runtime_stays_flat_over_two_hundred_mixed_invocations(hostile):
    """Regression guard (measured: VmRSS 39.0 MB -> 39.3 MB after 800 invocations, 5 fds,
    1 thread, no child left): memory, descriptors, threads and children of the runtime do
    not grow with invocations that exit, fail, flood, fork and leave children behind."""
    commands = [
        "hover:greet x",
        "hover:hostile bytes",
        "hover:fork",
        "hover:hostile zombies --n=3",
        "hover:call-exit 3",
        "hover:fail boom",
        "hover:open-and-exit",
        "hover:hostile write --n=2000000",
        "no-such-command",
        "hover:hostile late-writer",
    ]
    for command in commands:  # warm up the allocator's arenas
        assert "exit_code" in hostile.invoke({"command": command})
    pid = hostile.pid()
    before = runtime_status(pid)
    for index in range(200):
        response = hostile.invoke({"command": commands[index % len(commands)]})
        assert "exit_code" in response, response
    time.sleep(0.5)
    after = runtime_status(pid)
    assert hostile.pid() == pid
    assert after["fds"] == before["fds"], (before, after)
    assert after["threads"] == 1, after
    assert after["children"] == 1, ("only the spare waiting for the next command", after)
    assert after["zombies"] <= 2, after
    assert after["rss_kb"] - before["rss_kb"] < 8 * 1024, (before, after)
