"""CLI commands on a function that loaded encrypted secrets: nothing a command runs writes
them to disk, and a restart in place keeps them without calling KMS again."""

import base64
import json

from conftest import ROOT, hover_secrets
from test_secrets import Stage, files_containing, random_secrets


def with_secrets(start_runtime, moto, kms, tmp_path, **options):
    stage = Stage(kms, tmp_path)
    values, plaintext, distinctive = random_secrets()
    status, encrypted, stderr = hover_secrets(moto, "encrypt", "--stage", stage.name, "-", stdin=plaintext)
    assert status == 0, stderr
    stage.secrets_file.write_bytes(encrypted)
    runtime = start_runtime(HOVER_RUNTIME_DIR=stage.runtime_dir, **moto, **options)
    return runtime, stage, distinctive


def test_config_cache_and_optimize_are_refused_and_write_no_secret(start_runtime, moto, kms, tmp_path):
    runtime, stage, distinctive = with_secrets(start_runtime, moto, kms, tmp_path)
    for command in ["config:cache", "optimize"]:
        exit_code, output = runtime.command(command)
        assert exit_code == 1, output
        assert output.startswith(
            f"{command} is not run on this function: its configuration holds the secrets decrypted from "
            "hover_runtime/.env, and a configuration cache file would write them to disk in plaintext."
        ), output
    assert "getenv(" in (runtime.storage / "bootstrap" / "cache" / "config.php").read_text(), "cached, secrets read from the environment"
    assert files_containing(distinctive, runtime.storage, "/tmp", stage.runtime_dir) == []
    assert runtime.command("hover:greet Still") == (0, "Hello, Still!\n")


def test_without_secrets_config_cache_runs_as_in_php_artisan(start_runtime):
    runtime = start_runtime()
    exit_code, output = runtime.command("config:cache")
    assert exit_code == 0, output
    assert "Configuration cached successfully!" in output


def test_a_restart_in_place_keeps_the_secrets_without_calling_kms_again(start_runtime, moto, kms, tmp_path):
    """The PHPUnit fixture runtime ends its own PHP mid-invocation on "exit in the runtime",
    which the real bootstrap never does: the runtime answers, then restarts in place."""
    runtime, stage, _ = with_secrets(
        start_runtime, moto, kms, tmp_path, bootstrap=ROOT / "tests" / "phpunit" / "fixtures" / "bootstrap"
    )

    def report(command):
        response = runtime.invoke({"command": command})
        assert response.get("exit_code") == 0, response
        return json.loads(base64.b64decode(response["output"]).split(b"\n")[0])

    before = report("first")
    assert before["dbPasswordSet"] and before["shouldCacheConfiguration"]
    response = runtime.invoke({"command": "exit in the runtime"})
    assert response["errorType"] == "Hover.RuntimeExited", response
    after = report("after the restart")
    assert after["runtimePid"] == before["runtimePid"]
    assert after["dbPasswordSet"], "the decrypted secrets were handed over"
    log = runtime.log()
    assert "the runtime restarted in place (restart 1)" in log
    assert log.count("entries from") == 1, "KMS was called once, at the first start"
