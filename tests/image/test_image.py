"""The example application's image, run as Lambda runs a container image: AWS's RIE as the
entrypoint in front of /opt/bootstrap, user 993, read-only root file system, tmpfs /tmp.
Invoked as each of Hover's function types: CLI, HTTP (API Gateway v2, v1, ALB), queue (a
batch received from moto's SQS, with a release that must reach SQS); and with an encrypted
secrets file (the original format) decrypted with moto's KMS."""

import base64
import json
import os
import re
import secrets
import shutil
import statistics
import subprocess
import time

import pytest

from conftest import LAMBDA_USER, MEASURED, ROOT, Function
from http_events import alb, body_of, header, v1, v2
from sqs_events import Queue, failures, message_ids, sqs_client, unique_name


def command(function, line):
    response, elapsed = function.invoke({"command": line})
    assert set(response) == {"exit_code", "output"}, (response, function.logs())
    return response["exit_code"], base64.b64decode(response["output"]).decode(), elapsed


def init_duration(function):
    """The RIE's `INIT REPORT(durationMs: …)`: from the runtime's start to its first request
    for an event (init, Laravel booted, php-fpm started for HTTP), as Lambda reports it."""
    match = re.search(r"INIT REPORT\(durationMs: ([0-9.]+)\)", function.logs())
    return f"{float(match.group(1)):.0f} ms" if match else "not reported"


def assert_nothing_written_under_task_root(function):
    changed = function.diff()
    assert not [line for line in changed if line.split()[-1].startswith("/var/task")], changed
    return changed


@pytest.fixture(scope="module")
def cli(start_function):
    return start_function("example-production-cli")


@pytest.fixture(scope="module")
def http(start_function):
    return start_function("example-production-http")


def test_a_cli_command_runs_as_the_lambda_user_on_a_read_only_root(cli):
    exit_code, output, cold = command(cli, "hover:greet World")
    assert exit_code == 0, cli.logs()
    assert output == "Hello, World!\n"
    warm = [command(cli, "hover:greet World --shout")[2] for _ in range(10)]
    assert command(cli, "hover:greet World --shout")[:2] == (0, "HELLO, WORLD!\n")
    MEASURED["cli: first invocation (cold: RIE starts the runtime)"] = f"{cold * 1000:.0f} ms"
    MEASURED["cli: cold start, RIE INIT REPORT (runtime start to first /next)"] = init_duration(cli)
    MEASURED["cli: warm invocation, median of 10"] = f"{statistics.median(warm) * 1000:.1f} ms"


def test_the_runtime_runs_as_user_993(cli):
    """Every process in the container (the RIE, the runtime, the look itself) is Lambda's user."""
    processes = cli.exec(
        "sh", "-c", "for d in /proc/[0-9]*; do echo $(awk '/^Uid/{print $2}' $d/status) $(cat $d/comm); done",
        user=LAMBDA_USER,
    )
    assert processes.returncode == 0, processes.stderr
    lines = [line.split(" ", 1) for line in processes.stdout.splitlines() if line.strip()]
    assert {name for _, name in lines} >= {"aws-lambda-rie", "php"}, lines
    assert {uid for uid, _ in lines} == {"993"}, lines


@pytest.mark.parametrize("event_of", [v2, v1, alb], ids=["v2", "v1", "alb"])
def test_http_through_php_fpm_as_the_lambda_user(http, event_of):
    response, elapsed = http.invoke(event_of(path="/"))
    assert response["statusCode"] == 200, (response, http.logs())
    assert body_of(response) == b"Hello from Hover"
    MEASURED.setdefault("http: first invocation (cold: RIE starts the runtime and php-fpm)", f"{elapsed * 1000:.0f} ms")


def test_http_sessions_are_stored_under_tmp(http):
    response, _ = http.invoke(v2(path="/session"))
    assert response["statusCode"] == 200, (response, http.logs())
    assert json.loads(body_of(response)) == {"visits": 1}
    assert header(response, "set-cookie")


def test_http_warm_invocations(http):
    times = []
    for _ in range(50):
        response, elapsed = http.invoke(v2(path="/"))
        assert response["statusCode"] == 200
        times.append(elapsed)
    MEASURED["http: cold start, RIE INIT REPORT (runtime start to first /next)"] = init_duration(http)
    MEASURED["http: warm invocation, median of 50"] = f"{statistics.median(times) * 1000:.1f} ms"


def test_php_fpm_runs_as_the_lambda_user_from_tmp(http):
    listing = http.exec("ls", "-ln", "/tmp/hover-fpm")
    assert listing.returncode == 0, listing.stderr
    assert "php-fpm.sock" in listing.stdout
    for line in listing.stdout.splitlines()[1:]:
        assert line.split()[2:4] == ["993", "993"], listing.stdout


def test_a_queue_batch_against_sqs_with_a_release(start_function, cli, moto):
    sqs = sqs_client(moto)
    queue = Queue(sqs, unique_name("image"))
    bodies = {}
    for label, job in [("ok", "Succeeds ok"), ("released", "Releases released 3")]:
        exit_code, output, _ = command(cli, f"example:queue-payload {job}")
        assert exit_code == 0, output
        bodies[label] = output.rstrip("\n")
    function = start_function("example-default-queue", EXAMPLE_QUEUE_LOG="/tmp/queue-log.jsonl", **moto)
    messages = queue.deliver([bodies["ok"], bodies["released"]])
    event = queue.event(messages)
    ok, released = message_ids(event)
    started = time.monotonic()
    response, elapsed = function.invoke(event)
    assert response == failures(released), function.logs()
    MEASURED["queue: first invocation (cold), a batch of 2 with a release"] = f"{elapsed * 1000:.0f} ms"
    MEASURED["queue: cold start, RIE INIT REPORT (runtime start to first /next)"] = init_duration(function)
    log = [json.loads(line) for line in function.exec("cat", "/tmp/queue-log.jsonl").stdout.splitlines()]
    assert [(line["label"], line["did"]) for line in log if "did" in line] == [("ok", "ran"), ("released", "ran")]
    # The release is the message's visibility in SQS: back after 3 s, received once more.
    assert released not in queue.visible()
    seen = queue.wait_until_visible([released], timeout=10)
    assert 2.8 <= seen[released][0] - started < 3 + 2.5
    assert seen[released][1] == 2
    assert ok not in queue.visible()
    assert_nothing_written_under_task_root(function)


def test_nothing_is_written_to_the_read_only_containers(cli, http):
    # The root file system is read-only: `docker diff` shows nothing at all (/tmp is a tmpfs).
    assert cli.diff() == []
    assert http.diff() == []


def test_as_root_on_a_writable_root_nothing_under_var_task_changes(start_function):
    """Lambda may run an image as root; with a writable root file system, `docker diff`
    shows what the runtime writes: /tmp only."""
    http = start_function("example-production-http", user=None, read_only=False)
    response, _ = http.invoke(v2(path="/session"))
    assert response["statusCode"] == 200, (response, http.logs())
    cli = start_function("example-production-cli", user=None, read_only=False)
    exit_code, output, _ = command(cli, "hover:greet Root")
    assert (exit_code, output) == (0, "Hello, Root!\n"), cli.logs()
    for function in (http, cli):
        changed = assert_nothing_written_under_task_root(function)
        assert all(line.split()[-1] == "/tmp" or line.split()[-1].startswith("/tmp/") for line in changed), changed
        tops = sorted({"/".join(line.split()[-1].split("/")[:3]) for line in changed})
        MEASURED[f"docker diff, {function.name} as root on a writable root"] = f"{len(changed)} paths, under {', '.join(tops)}"


def legacy_secrets_file(kms, alias, plaintext):
    """A secrets file as the original Hover CLI made it (the format existing deployments
    have): a 32-character hex key text wrapped by the KMS key `alias`, the payload encrypted
    with AES-256-CBC under those 32 bytes."""
    key_text = secrets.token_hex(16)
    iv = os.urandom(16)
    wrapped = kms.encrypt(KeyId=alias, Plaintext=key_text.encode())["CiphertextBlob"]
    ciphertext = subprocess.run(
        ["openssl", "enc", "-aes-256-cbc", "-K", key_text.encode().hex(), "-iv", iv.hex()],
        input=plaintext,
        capture_output=True,
        check=True,
    ).stdout
    return f"{ciphertext.hex()}------{wrapped.hex()}------{iv.hex()}".encode()


def test_encrypted_secrets_are_decrypted_with_kms_in_the_image(start_function, moto, tmp_path):
    """hover_runtime/.env, encrypted as Hover's CLI did, decrypted at init with KMS (moto's),
    and seen by a CLI command and by php-fpm; no secret reaches a file."""
    import boto3

    kms = boto3.client(
        "kms",
        endpoint_url=moto["AWS_ENDPOINT_URL_KMS"],
        region_name=moto["AWS_REGION"],
        aws_access_key_id=moto["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=moto["AWS_SECRET_ACCESS_KEY"],
    )
    alias = "alias/example-secrets-key"  # the manifest's name is "example"
    if not any(entry["AliasName"] == alias for entry in kms.list_aliases()["Aliases"]):
        kms.create_alias(AliasName=alias, TargetKeyId=kms.create_key()["KeyMetadata"]["KeyId"])
    token = secrets.token_urlsafe(18)
    runtime_dir = tmp_path / "hover_runtime"
    runtime_dir.mkdir()
    shutil.copy(ROOT / "example-app" / "hover_runtime" / "manifest.json", runtime_dir / "manifest.json")
    (runtime_dir / ".env").write_bytes(legacy_secrets_file(kms, alias, f"DB_PASSWORD=secret-{token}\n".encode()))
    runtime_dir.chmod(0o755)
    for path in runtime_dir.iterdir():
        path.chmod(0o644)
    volumes = [(runtime_dir, "/var/task/hover_runtime")]
    cli = start_function("example-production-cli", volumes=volumes, **moto)
    exit_code, output, _ = command(cli, "hover:env DB_PASSWORD")
    assert exit_code == 0, (output, cli.logs())
    assert f"secret-{token}" in output
    http = start_function("example-production-http", volumes=volumes, **moto)
    response, _ = http.invoke(v2(path="/config", query="keys[]=services.example.db_password"))
    assert response["statusCode"] == 200, (response, http.logs())
    seen = json.loads(body_of(response))
    assert seen == {"cached": True, "values": {"services.example.db_password": f"secret-{token}"}}, seen
    for function in (cli, http):
        found = function.exec("grep", "-rl", token, "/tmp", user=LAMBDA_USER)
        assert found.stdout == "", f"a secret in a file: {found.stdout}"
