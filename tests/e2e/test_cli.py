"""The CLI function end to end: artisan commands run in-process behind AWS's emulator."""

import json
import re
import shutil
import subprocess
import threading
import time

import pytest

from conftest import ROOT, free_port, runtime_environment


def test_a_command_gets_its_arguments_and_options(cli):
    assert cli.command("hover:greet 'Ada Lovelace' --times=2 --shout") == (0, "HELLO, ADA LOVELACE!\n" * 2)
    assert cli.command("hover:greet Grace") == (0, "Hello, Grace!\n")


def test_the_exit_code_is_the_commands(cli):
    assert cli.command("hover:exit-with 3") == (3, "returning 3\n")


def test_an_unknown_command_fails_with_laravels_message(cli):
    exit_code, output = cli.command("no-such-command")
    assert exit_code != 0
    assert 'Command "no-such-command" is not defined.' in output


def test_a_command_that_throws_reports_the_exception(cli):
    exit_code, output = cli.command("hover:fail 'the disk is on fire'")
    assert exit_code != 0
    assert output.startswith("about to fail\n")
    assert "the disk is on fire" in output
    assert cli.command("hover:greet Again") == (0, "Hello, Again!\n")


def test_the_manifest_environment_and_build_id_reach_the_command(cli):
    exit_code, output = cli.command("hover:env HOVER_BUILD_ID EXAMPLE_GREETING APP_NAME")
    assert exit_code == 0
    seen = json.loads(output)
    expected = {"HOVER_BUILD_ID": "example-build-1", "EXAMPLE_GREETING": "hello from the manifest", "APP_NAME": "Hover Example"}
    for name, value in expected.items():
        assert seen[name] == {"env": value, "getenv": value, "_ENV": value, "_SERVER": value}, name


@pytest.mark.parametrize(
    "payload, message",
    [
        (b"[1, 2]", "the event is an array, not an object"),
        (b'"migrate"', "the event is a string, not an object"),
        (b"{}", 'the event has no "command"'),
        (b'{"command": 5}', '"command" is a number; it must be a string'),
        (b"{not json", "the event is not valid JSON"),
    ],
)
def test_a_malformed_event_gets_a_clear_error(cli, payload, message):
    status, response = cli.invoke_raw(payload)
    assert response["errorType"] == "Hover.InvalidEvent", response
    assert response["errorMessage"].startswith(message), response
    assert cli.command("hover:greet Still") == (0, "Hello, Still!\n")


def test_exit_gets_its_response_and_the_runtime_keeps_serving(cli):
    assert cli.command("hover:call-exit 7") == (7, "before exit\nechoed before exit\n")
    assert cli.command("hover:greet After") == (0, "Hello, After!\n")
    assert "Runtime exited" not in cli.log(), "the process restarted in place; Lambda saw no exit"


def test_a_fatal_error_is_answered_with_its_message_and_the_runtime_keeps_serving(cli):
    exit_code, output = cli.command("hover:exhaust-memory")
    assert exit_code == 255
    assert output.startswith("allocating\nPHP Fatal error:  Allowed memory size of 67108864 bytes exhausted")
    assert cli.command("hover:greet Recovered") == (0, "Hello, Recovered!\n")
    log = cli.log()
    assert "Runtime exited" not in log
    assert "not instantiable" not in log, "no handler left behind by config:cache fails at shutdown"


def test_a_process_the_command_forks_never_answers_for_it(cli):
    assert cli.command("hover:fork") == (0, "from the child\nchild exited with 0\n")
    assert cli.command("hover:greet Single") == (0, "Hello, Single!\n")


def test_a_command_past_the_deadline_is_stopped_and_the_next_invocation_works(cli):
    started = time.monotonic()
    response = cli.invoke({"command": "hover:sleep 30"})
    elapsed = time.monotonic() - started
    assert response["errorType"] == "Hover.CommandTimeout", response
    assert re.fullmatch(
        r"`hover:sleep 30` was still running after 3\d\d\d ms, close to the invocation's deadline; "
        r"it was stopped with the processes it started; its last output: sleeping 30 s\n",
        response["errorMessage"],
    ), response
    assert elapsed < 4, "answered before Lambda's own timeout of 4 s"
    assert cli.command("hover:greet Later") == (0, "Hello, Later!\n")
    log = cli.log()
    stopped = re.search(r"\t([0-9a-f-]{36})\tINFO\tsleeping 30 s$", log, re.MULTILINE)
    assert stopped, "the output so far is logged"
    assert f"\t{stopped.group(1)}\tINFO\twoke up" not in log, "the command was stopped"
    assert "Task timed out" not in log, "Lambda never had to time the invocation out"


def test_echoed_output_joins_console_output_in_order(cli):
    assert cli.command("hover:mixed-output") == (0, "one\ntwo\nthree\nfour\n")


def test_a_buffer_left_open_is_captured_and_does_not_leak(cli):
    assert cli.command("hover:mixed-output --leave-buffer") == (0, "one\ntwo\nthree\nfour\nfive, from a buffer left open\n")
    assert cli.command("hover:greet Clean") == (0, "Hello, Clean!\n")


def test_verbosity_does_not_leak_into_the_next_invocation(cli):
    assert cli.command("hover:verbosity -vvv") == (0, "verbosity=256\ninteractive=no\n")
    assert cli.command("hover:verbosity") == (0, "verbosity=32\ninteractive=no\n")
    assert cli.command("hover:verbosity -q") == (0, "")
    assert cli.command("hover:verbosity") == (0, "verbosity=32\ninteractive=no\n")


def test_each_invocation_gets_a_fresh_artisan_application(cli):
    for _ in range(3):
        assert cli.command("hover:instance-calls") == (0, "calls=1\n")


def test_output_is_logged_to_stderr_with_the_request_id(cli):
    cli.command("hover:greet Logged")
    log = cli.log()
    match = re.search(r"^\S+\t([0-9a-f-]{36})\tINFO\tHello, Logged!$", log, re.MULTILINE)
    assert match, log[-2000:]
    request_id = match.group(1)
    assert f"START RequestId: {request_id}" in log, "the id is the invocation's"
    assert re.search(rf"\t{request_id}\tINFO\t`hover:greet Logged` exited with 0 in [\d.]+ ms", log)


def test_output_reaches_the_log_while_the_command_still_runs(cli):
    finished = threading.Event()

    def invoke():
        cli.command("hover:sleep 2")
        finished.set()

    threading.Thread(target=invoke).start()
    deadline = time.monotonic() + 1.5
    while "INFO\tsleeping 2 s" not in cli.log() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert "INFO\tsleeping 2 s" in cli.log()
    assert not finished.is_set(), "logged before the command ended"
    assert finished.wait(10)
    assert "INFO\twoke up" in cli.log()


def test_the_command_line_reaches_artisan_without_a_shell(cli):
    assert cli.command("hover:greet '$(id); `id`' --times=1") == (0, "Hello, $(id); `id`!\n")


def test_laravels_cache_files_go_under_the_storage_path(cli):
    cli.command("hover:greet Cache")
    cache = cli.storage / "bootstrap" / "cache"
    assert (cache / "config.php").is_file(), "config:cache ran at init"
    assert (cache / "packages.php").is_file() and (cache / "services.php").is_file()
    assert (cli.storage / "framework" / "sessions").is_dir()
    assert not list((ROOT / "example-app" / "bootstrap" / "cache").glob("*.php")), "the app directory stays untouched"


def test_the_configuration_is_cached_from_the_booted_application_without_a_fork(start_runtime, tmp_path):
    ini = tmp_path / "ini"
    ini.mkdir()
    (ini / "no-fork.ini").write_text("disable_functions = pcntl_fork\n")
    runtime = start_runtime(PHP_INI_SCAN_DIR=f":{ini}")
    assert runtime.command("hover:greet Cached") == (0, "Hello, Cached!\n")
    cache = runtime.storage / "bootstrap" / "cache" / "config.php"
    assert "not cached" not in runtime.log()
    assert "'name' => 'Hover Example'" in cache.read_text()


def test_json_log_format_gives_one_object_per_record(start_runtime):
    runtime = start_runtime(AWS_LAMBDA_LOG_FORMAT="JSON")
    assert runtime.command("hover:greet Json") == (0, "Hello, Json!\n")
    records = [json.loads(line) for line in runtime.log().splitlines() if line.startswith("{\"timestamp\"")]
    output = [record for record in records if record["message"] == "Hello, Json!"]
    assert len(output) == 1 and output[0]["level"] == "INFO"
    assert re.fullmatch(r"[0-9a-f-]{36}", output[0]["requestId"])


def test_a_broken_manifest_is_reported_as_an_init_error(start_runtime, tmp_path):
    runtime_dir = tmp_path / "hover_runtime"
    runtime_dir.mkdir()
    (runtime_dir / "manifest.json").write_text('{"name": "example", "environment": ["APP_ENV=production"]}')
    runtime = start_runtime(HOVER_RUNTIME_DIR=runtime_dir)
    status, response = runtime.invoke_raw(b'{"command": "hover:greet Nobody"}')
    assert response["errorType"] == "Hover.InvalidManifest", response
    assert response["errorMessage"] == f'{runtime_dir}/manifest.json: "environment" must be an object'
    assert "Hover.InvalidManifest" in runtime.log()


def test_a_missing_application_is_reported_as_an_init_error(start_runtime, tmp_path):
    runtime = start_runtime(LAMBDA_TASK_ROOT=tmp_path, HOVER_RUNTIME_DIR=ROOT / "example-app" / "hover_runtime")
    status, response = runtime.invoke_raw(b'{"command": "list"}')
    assert response["errorType"] == "Hover.BootstrapFailed", response
    assert f"{tmp_path}/vendor/autoload.php does not exist" in response["errorMessage"]


def test_a_configuration_that_cannot_be_cached_is_served_uncached_with_a_warning(start_runtime, tmp_path):
    app = tmp_path / "app"
    shutil.copytree(ROOT / "example-app", app, dirs_exist_ok=True)
    (app / "config" / "closures.php").write_text("<?php\n\nreturn ['greeter' => fn () => 'hi'];\n")
    runtime = start_runtime(LAMBDA_TASK_ROOT=app)
    assert runtime.command("hover:greet Uncached") == (0, "Hello, Uncached!\n")
    assert "WARN\tthe configuration is not cached, the application reads it from its files: the configuration is not serializable" in runtime.log()
    assert not (runtime.storage / "bootstrap" / "cache" / "config.php").exists()


def test_an_unreachable_runtime_api_ends_the_process_with_a_clear_message(tmp_path):
    closed_port = free_port()
    started = time.monotonic()
    finished = subprocess.run(
        [str(ROOT / "docker" / "bootstrap")],
        env=runtime_environment(AWS_LAMBDA_RUNTIME_API=f"127.0.0.1:{closed_port}", HOVER_STORAGE_PATH=tmp_path),
        capture_output=True,
        timeout=30,
    )
    assert finished.returncode != 0
    stderr = finished.stderr.decode()
    assert f"the Lambda Runtime API at http://127.0.0.1:{closed_port}/2018-06-01/runtime/invocation/next is unreachable after 6 attempts" in stderr
    assert time.monotonic() - started < 15


def test_php_lists_the_extension_as_hover():
    extension = ROOT / "target" / "release" / "libhover.so"
    modules = subprocess.run(["php8.2", "-d", f"extension={extension}", "-m"], capture_output=True, text=True, check=True)
    assert "hover" in modules.stdout.split()
    assert modules.stderr == ""
