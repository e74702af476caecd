"""CLI commands are as isolated as the original's `php artisan` subprocesses: each runs in a
fork of the booted application, and nothing it does reaches a later invocation. Tried the
way a hostile or careless command would break an in-process runtime."""

import json
import os
import pathlib
import re
import shlex
import shutil
import signal
import subprocess
import time

import pytest

from conftest import EXAMPLE_APP, ROOT, artisan, process_is_gone


@pytest.fixture(scope="module")
def isolated(tmp_path_factory):
    """A CLI function for this module, with a timeout long enough for the slow commands."""
    from conftest import Runtime

    runtime = Runtime(tmp_path_factory.mktemp("isolated"), function_timeout=30)
    yield runtime
    runtime.stop()


def state(runtime):
    exit_code, output = runtime.command("hover:state")
    assert exit_code == 0, output
    return json.loads(output)


def test_nothing_a_command_changes_reaches_the_next_one(isolated):
    assert isolated.command("hover:greet First")[0] == 0
    before = state(isolated)
    exit_code, output = isolated.command("hover:leak")
    assert exit_code == 0, output
    after = state(isolated)
    assert after == before
    assert before["getenv"] is False and before["config"] is None and before["singleton"] is False
    assert before["static"] == 0 and before["umask"] == "0022" and before["timezone"] == "UTC"
    assert before["max_execution_time"] == "0" and before["alarm_handler"] == signal.SIG_DFL


def test_each_command_draws_its_own_random_numbers(isolated):
    """The booted application seeded mt_rand() before any fork (see AppServiceProvider);
    each command's process is reseeded, as each `php artisan` was seeded afresh."""
    draws = [isolated.command("hover:random") for _ in range(3)]
    assert all(exit_code == 0 for exit_code, _ in draws), draws
    mt_rand, rand = ({output.split()[column] for _, output in draws} for column in (0, 1))
    assert len(mt_rand) == 3 and len(rand) == 3, draws


def test_a_time_limit_set_by_one_command_does_not_kill_a_later_one(isolated):
    assert isolated.command("hover:leak")[0] == 0
    assert isolated.command("hover:sleep 3") == (0, "sleeping 3 s\nwoke up\n")


def test_a_shutdown_function_speaks_in_its_own_invocation_only(isolated):
    exit_code, output = isolated.command("hover:leak")
    assert output == "state changed\nshutdown function of the leaking command\n"
    assert isolated.command("hover:greet Next") == (0, "Hello, Next!\n")


def test_an_alarm_left_by_a_command_never_goes_off_later(isolated):
    assert isolated.command("hover:leak")[0] == 0
    time.sleep(1.5)
    assert isolated.command("hover:greet Later") == (0, "Hello, Later!\n")
    assert "alarm went off" not in isolated.log()


def test_a_stray_alarm_signal_does_not_kill_the_runtime(isolated):
    assert isolated.command("hover:greet Before")[0] == 0
    os.kill(isolated.pid(), signal.SIGALRM)
    time.sleep(0.2)
    assert isolated.command("hover:greet After") == (0, "Hello, After!\n")
    assert isolated.command("hover:state")[0] == 0, "a command's own SIGALRM is still the default"
    assert state(isolated)["alarm_handler"] == signal.SIG_DFL


def test_everything_a_command_writes_is_in_the_response_as_php_artisan_2_to_1_gave_it(isolated):
    expected = artisan("hover:direct-output")
    assert expected[1].startswith("1 console output\n2 echo\n3 STDOUT\n4 STDERR\n"), "the oracle works"
    assert isolated.command("hover:direct-output") == expected
    log = isolated.log()
    for line in ["3 STDOUT", "4 STDERR", "7 error_log", '"8 dump"']:
        assert f"\tINFO\t{line}\n" in log, f"{line} streamed to the log"


@pytest.mark.parametrize(
    "command",
    ["hover:greet 'Ada Lovelace' --times=2", "hover:exit-with 3", "hover:fail boom", "no-such-command", "hover:fork"],
)
def test_the_response_is_what_php_artisan_gives(isolated, command):
    exit_code, output = isolated.command(command)
    expected_code, expected_output = artisan(*shlex.split(command))
    assert exit_code == expected_code
    assert without_log_times(output) == without_log_times(expected_output)


def without_log_times(output):
    """Laravel's log lines start with the time they were written, and stack traces end in
    the caller of the console Kernel (artisan, or the runtime): neither is the same twice."""
    output = re.sub(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\] ", "[time] ", output, flags=re.MULTILINE)
    return re.sub(r"^#\d+ .*\n", "", output, flags=re.MULTILINE)


def test_exit_statuses_are_what_a_process_reports(isolated):
    assert isolated.command("hover:status 256") == (0, "")
    assert isolated.command("hover:status -- -1") == (255, "")
    assert isolated.command("hover:status 300") == artisan("hover:status", "300") == (44, "")


def test_argv_is_artisans(isolated):
    assert state(isolated)["argv"] == ["artisan", "hover:state", "--no-interaction"]
    exit_code, output = isolated.command("hover:state --no-ansi")
    assert json.loads(output)["argv"] == ["artisan", "hover:state", "--no-ansi", "--no-interaction"]
    exit_code, output = isolated.command("hover:state -- extra")
    assert exit_code != 0 and "No arguments expected" in output, "the argument after -- reaches artisan"


def test_a_command_that_closes_its_own_output_is_answered_with_its_status(isolated):
    assert isolated.command("hover:close-output 6") == (6, "before closing\n")
    assert isolated.command("hover:greet Open") == (0, "Hello, Open!\n")


def test_exit_and_fatal_errors_end_only_the_command(isolated):
    pid = isolated.pid()
    assert isolated.command("hover:call-exit 7") == (7, "before exit\nechoed before exit\n")
    exit_code, output = isolated.command("hover:exhaust-memory")
    assert exit_code == 255
    assert "PHP Fatal error:  Allowed memory size of 67108864 bytes exhausted" in output
    assert isolated.pid() == pid, "the runtime process neither exited nor restarted"
    assert "restart" not in isolated.log()


def test_descriptors_stay_flat_over_twenty_exits_with_open_files(isolated):
    assert isolated.command("hover:greet Count")[0] == 0
    descriptors = pathlib.Path(f"/proc/{isolated.pid()}/fd")

    def open_descriptors():
        # Pipes to the spare command process are new for each command: compare kinds.
        return sorted(re.sub(r"\[\d+\]$", "", os.readlink(fd)) for fd in descriptors.iterdir())

    before = open_descriptors()
    for _ in range(20):
        assert isolated.command("hover:open-and-exit") == (9, "opened 11\n")
    assert open_descriptors() == before


def spawned_pids(pidfile):
    return [int(pid) for pid in pidfile.read_text().split()]


def test_what_a_command_leaves_running_is_stopped_when_it_returns(isolated, tmp_path):
    pidfile = tmp_path / "pids"
    exit_code, output = isolated.command(f"hover:spawn-children {pidfile}")
    assert exit_code == 0, output
    pids = spawned_pids(pidfile)
    assert len(pids) == 2
    deadline = time.monotonic() + 5
    while not all(process_is_gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(process_is_gone(pid) for pid in pids)


def test_a_command_past_the_deadline_is_stopped_with_its_children(start_runtime, tmp_path):
    runtime = start_runtime(function_timeout=3)
    pidfile = tmp_path / "pids"
    started = time.monotonic()
    response = runtime.invoke({"command": f"hover:spawn-children {pidfile} --sleep=60"})
    elapsed = time.monotonic() - started
    assert response["errorType"] == "Hover.CommandTimeout", response
    assert response["errorMessage"].startswith(f"`hover:spawn-children {pidfile} --sleep=60` was still running after")
    assert response["errorMessage"].endswith("its last output: started " + " ".join(map(str, spawned_pids(pidfile))) + "\n")
    assert elapsed < 3, "answered before Lambda's own timeout"
    pids = spawned_pids(pidfile)
    deadline = time.monotonic() + 5
    while not all(process_is_gone(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert all(process_is_gone(pid) for pid in pids), "the command's own children died with it"
    assert runtime.command("hover:greet Next") == (0, "Hello, Next!\n")
    assert "Task timed out" not in runtime.log()


def test_the_shortest_lambda_timeout_serves_a_trivial_command(start_runtime):
    runtime = start_runtime(function_timeout=1)
    for _ in range(3):
        assert runtime.command("hover:greet Quick") == (0, "Hello, Quick!\n")
    assert "Task timed out" not in runtime.log()


def test_a_command_line_past_the_limit_is_refused_before_it_is_parsed(isolated):
    line = "hover:greet " + "a" * 9000
    status, response = isolated.invoke_raw(json.dumps({"command": line}).encode())
    assert response["errorType"] == "Hover.InvalidEvent", response
    assert response["errorMessage"].startswith("the command line is 9012 bytes long; at most 8192 are accepted")
    assert isolated.log().count("a" * 1000) == 0, "the line is not logged whole"


def test_output_too_large_for_a_response_keeps_its_beginning_and_end(isolated):
    exit_code, output = isolated.command("hover:flood 5")
    assert exit_code == 0
    assert output.startswith("x" * 1023 + "\n")
    assert output.endswith("x" * 1023 + "\n")
    assert "bytes of output left out here; a Lambda response carries at most 4718544 bytes of output" in output
    assert len(output) <= 4718544
    assert "wrote 5242880 bytes of output" in isolated.log()
    exit_code, output = isolated.command("hover:flood 4")
    assert exit_code == 0 and len(output) == 4 * 1024 * 1024, "4 MB still fits whole"


def init_error(start_runtime, tmp_path, config_file):
    app = tmp_path / "app"
    shutil.copytree(EXAMPLE_APP, app, dirs_exist_ok=True)
    (app / "config" / "broken.php").write_text(config_file)
    runtime = start_runtime(LAMBDA_TASK_ROOT=app, HOVER_RUNTIME_DIR=EXAMPLE_APP / "hover_runtime")
    status, response = runtime.invoke_raw(b'{"command": "list"}')
    return response, app


def test_exit_while_the_application_boots_is_an_init_error(start_runtime, tmp_path):
    response, _ = init_error(start_runtime, tmp_path, "<?php\n\nexit(3);\n")
    assert response["errorType"] == "Hover.InitExited", response
    assert response["errorMessage"].startswith("PHP exited with status 3 while the application booted")


def test_a_compile_error_while_the_application_boots_is_an_init_error(start_runtime, tmp_path):
    response, app = init_error(start_runtime, tmp_path, "<?php\n\nbreak;\n")
    assert response["errorType"] == "Hover.InitFatalError", response
    assert response["errorMessage"] == (
        "PHP stopped with a fatal error while the application booted: "
        f"'break' not in the 'loop' or 'switch' context in {app}/config/broken.php on line 3"
    )


def test_memory_exhaustion_while_the_application_boots_is_an_init_error(start_runtime, tmp_path):
    response, _ = init_error(
        start_runtime, tmp_path, "<?php\n\nini_set('memory_limit', '16M');\n$x = str_repeat('x', 64 << 20);\n\nreturn [];\n"
    )
    assert response["errorType"] == "Hover.InitFatalError", response
    assert "Allowed memory size of 16777216 bytes exhausted" in response["errorMessage"]


def test_the_example_app_is_untouched_by_the_oracle():
    assert not list((ROOT / "example-app" / "bootstrap" / "cache").glob("*.php"))


def children_of(pid):
    """The live children of a process (ended commands are reaped when the next is forked)."""
    found = subprocess.run(["ps", "--ppid", str(pid), "-o", "pid=,pgid=,stat="], capture_output=True, text=True)
    return [line.split() for line in found.stdout.splitlines() if not line.split()[2].startswith("Z")]


def test_one_process_waits_ahead_of_the_next_command_and_dies_with_the_runtime(start_runtime):
    runtime = start_runtime()
    assert runtime.command("hover:greet One") == (0, "Hello, One!\n")
    for _ in range(3):
        assert runtime.invoke_raw(b"[]")[1]["errorType"] == "Hover.InvalidEvent"
        assert runtime.command("hover:greet Again") == (0, "Hello, Again!\n")
    time.sleep(0.2)
    pid = runtime.pid()
    children = children_of(pid)
    assert len(children) == 1, f"one spare, nothing left over: {children}"
    (spare, group, _), = children
    assert spare == group, "the spare leads its own process group"
    assert os.readlink(f"/proc/{spare}/fd/0") == "/dev/null"
    runtime.stop()
    deadline = time.monotonic() + 5
    while not process_is_gone(int(spare)) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert process_is_gone(int(spare)), "the spare dies with the runtime"
