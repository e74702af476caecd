"""Stage secrets end to end: files made with the hover-secrets tool (v2) or with openssl and
a KMS-wrapped key (the legacy format), keys in moto's KMS, the runtime under AWS's RIE, and
the example app reporting digests of what it sees, never the values."""

import hashlib
import json
import os
import pathlib
import secrets
import socket
import subprocess
import time
import uuid

import pytest

from conftest import HOVER_SECRETS, hover_secrets, kms_client as kms_in, legacy_secrets_file


def digest(value):
    return hashlib.sha256(value.encode()).hexdigest()


class Stage:
    """A stage: its name, its KMS key (alias/<name>-secrets-key in moto) and a runtime dir
    whose manifest names it."""

    def __init__(self, kms, directory, with_key=True):
        self.name = f"shop-{uuid.uuid4().hex[:8]}"
        self.alias = f"alias/{self.name}-secrets-key"
        self.runtime_dir = pathlib.Path(directory) / self.name
        self.runtime_dir.mkdir(parents=True)
        manifest = {
            "name": self.name,
            "environment": {
                "APP_NAME": "Hover Example",
                "APP_ENV": "production",
                "LOG_CHANNEL": "stderr",
                "EXAMPLE_GREETING": "from the manifest",
            },
            "build_details": {"id": "secrets-build"},
        }
        (self.runtime_dir / "manifest.json").write_text(json.dumps(manifest))
        if with_key:
            key_id = kms.create_key()["KeyMetadata"]["KeyId"]
            kms.create_alias(AliasName=self.alias, TargetKeyId=key_id)

    @property
    def secrets_file(self):
        return self.runtime_dir / ".env"


def random_secrets():
    """Secret values made for one test, so that finding one anywhere means it leaked."""
    token = secrets.token_urlsafe(18)
    pem_lines = [secrets.token_urlsafe(48) for _ in range(3)]
    values = {
        "APP_KEY": "base64:" + secrets.token_urlsafe(32),
        "DB_PASSWORD": f"pa ss {token}",
        "PRIVATE_KEY": "\n".join(["-----BEGIN PRIVATE KEY-----", *pem_lines, "-----END PRIVATE KEY-----"]),
        "MAIL_PASSWORD": f"{secrets.token_urlsafe(18)} #not-a-comment",
    }
    values["DATABASE_URL"] = f"mysql://app:{values['DB_PASSWORD']}@db/app"
    dotenv = "\n".join(
        [
            "# stage secrets",
            f"APP_KEY={values['APP_KEY']}",
            f'DB_PASSWORD="{values["DB_PASSWORD"]}"',
            f'PRIVATE_KEY="{values["PRIVATE_KEY"]}"',
            f"export MAIL_PASSWORD='{values['MAIL_PASSWORD']}'",
            'DATABASE_URL="mysql://app:${DB_PASSWORD}@db/app"',
            "EXAMPLE_GREETING=from-secrets",
            "FUNCTION_SETTING=from-secrets",
            "AWS_REGION=mars-1",
            "",
        ]
    )
    distinctive = [values["APP_KEY"], token, values["MAIL_PASSWORD"].split()[0], *pem_lines]
    return values, dotenv.encode(), distinctive


def files_containing(needles, *roots):
    """Regular files under the roots that contain any of the needles."""
    needles = [needle.encode() for needle in needles]
    found = []
    for root in roots:
        for directory, _, names in os.walk(root):
            for name in names:
                path = os.path.join(directory, name)
                try:
                    if os.path.islink(path) or not os.path.isfile(path) or os.path.getsize(path) > 64 << 20:
                        continue
                    content = pathlib.Path(path).read_bytes()
                except OSError:
                    continue
                if any(needle in content for needle in needles):
                    found.append(path)
    return found


def runtime_threads(runtime):
    """The names of the threads of the runtime process the RIE started."""
    (pid,) = subprocess.run(
        ["ps", "--ppid", str(runtime.process.pid), "-o", "pid="], capture_output=True, text=True, check=True
    ).stdout.split()
    tasks = pathlib.Path(f"/proc/{pid}/task")
    return sorted((task / "comm").read_text().strip() for task in tasks.iterdir())


def start_with_secrets(start_runtime, moto, stage, **environment):
    return start_runtime(HOVER_RUNTIME_DIR=stage.runtime_dir, **moto, **environment)


def assert_app_sees(runtime, values):
    names = ["APP_KEY", "DB_PASSWORD", "PRIVATE_KEY", "MAIL_PASSWORD", "DATABASE_URL"]
    exit_code, output = runtime.command("hover:secret-digests " + " ".join(names) + " --config=app.key")
    assert exit_code == 0, output
    seen = json.loads(output)
    for name in names:
        expected = digest(values[name])
        assert seen[name] == {"env": expected, "getenv": expected, "_ENV": expected, "_SERVER": expected}, name
    assert seen["config:app.key"] == digest(values["APP_KEY"])


def test_a_v2_file_made_by_the_tool_reaches_the_app_and_no_plaintext_is_written(
    start_runtime, moto, kms, tmp_path
):
    stage = Stage(kms, tmp_path)
    values, plaintext, distinctive = random_secrets()
    status, encrypted, stderr = hover_secrets(moto, "encrypt", "--stage", stage.name, "-", stdin=plaintext)
    assert status == 0, stderr
    assert encrypted.startswith(f"hover-secrets:v2:{stage.alias}:".encode())
    stage.secrets_file.write_bytes(encrypted)

    runtime = start_with_secrets(start_runtime, moto, stage, FUNCTION_SETTING="from-function")
    assert_app_sees(runtime, values)
    exit_code, output = runtime.command("hover:env EXAMPLE_GREETING FUNCTION_SETTING AWS_REGION")
    seen = json.loads(output)
    assert seen["EXAMPLE_GREETING"]["env"] == "from the manifest"
    assert seen["FUNCTION_SETTING"]["getenv"] == "from-function"
    assert seen["AWS_REGION"]["getenv"] == "us-east-1"

    log = runtime.log()
    assert f"secrets: 8 entries from {stage.secrets_file} (v2 format) decrypted in" in log
    for name in ["EXAMPLE_GREETING", "FUNCTION_SETTING", "AWS_REGION"]:
        assert f"secrets: {name} is ignored: the manifest, the function's environment or Lambda already sets it" in log
    assert not any(value in log for value in distinctive)
    # The KMS client's threads are gone before init sets the environment, and the runtime
    # starts none: PHP's thread alone, as it must be to fork each command.
    assert runtime_threads(runtime) == ["php8.2"]
    # Laravel's config cache is written, with APP_KEY read from the environment.
    assert "'key' => \\getenv('APP_KEY', true)," in (runtime.storage / "bootstrap" / "cache" / "config.php").read_text()
    assert files_containing(distinctive, runtime.storage, "/tmp", stage.runtime_dir) == []


def test_a_legacy_file_works_and_the_tool_reencrypts_it(start_runtime, moto, kms, tmp_path):
    stage = Stage(kms, tmp_path)
    values, plaintext, distinctive = random_secrets()
    legacy = legacy_secrets_file(kms, stage.alias, plaintext)
    stage.secrets_file.write_bytes(legacy)
    runtime = start_with_secrets(start_runtime, moto, stage)
    assert_app_sees(runtime, values)
    assert "(legacy format) decrypted in" in runtime.log()
    assert files_containing(distinctive, runtime.storage, "/tmp", stage.runtime_dir) == []

    status, decrypted, stderr = hover_secrets(moto, "decrypt", "--stage", stage.name, str(stage.secrets_file))
    assert (status, decrypted) == (0, plaintext), stderr
    status, reencrypted, stderr = hover_secrets(moto, "reencrypt", "--stage", stage.name, str(stage.secrets_file))
    assert status == 0, stderr
    assert reencrypted.startswith(b"hover-secrets:v2:")
    status, decrypted, stderr = hover_secrets(moto, "decrypt", "--stage", stage.name, "-", stdin=reencrypted)
    assert (status, decrypted) == (0, plaintext), stderr


def tampered(moto, stage, plaintext):
    encrypted = bytearray(hover_secrets(moto, "encrypt", "--stage", stage.name, "-", stdin=plaintext)[1])
    position = len(encrypted) - 10
    encrypted[position] = ord("A") if encrypted[position] != ord("A") else ord("B")
    return bytes(encrypted)


def for_another_stage(moto, kms, plaintext, tmp_path):
    other = Stage(kms, tmp_path)
    return hover_secrets(moto, "encrypt", "--stage", other.name, "-", stdin=plaintext)[1], other


CASES = {
    "tampered": "Hover.SecretsTampered",
    "another stage": "Hover.SecretsWrongStage",
    "key in another region": "Hover.SecretsAccessDenied",
    "garbled": "Hover.SecretsGarbled",
    "unknown version": "Hover.SecretsUnknownVersion",
    "invalid dotenv": "Hover.SecretsInvalidDotenv",
    "unreadable": "Hover.SecretsUnreadable",
}


@pytest.mark.parametrize("case", CASES)
def test_a_bad_secrets_file_is_a_specific_init_error(case, start_runtime, moto, kms, tmp_path):
    stage = Stage(kms, tmp_path, with_key=case != "key in another region")
    values, plaintext, distinctive = random_secrets()
    expected_in_message = [str(stage.secrets_file)]
    if case == "tampered":
        stage.secrets_file.write_bytes(tampered(moto, stage, plaintext))
    elif case == "another stage":
        content, other = for_another_stage(moto, kms, plaintext, tmp_path)
        stage.secrets_file.write_bytes(content)
        expected_in_message += [other.alias, f"stage {stage.name}"]
    elif case == "key in another region":
        # KMS answers AccessDenied for a data key whose KMS key it cannot find or use.
        elsewhere = {**moto, "AWS_REGION": "us-west-2"}
        key_id = kms_in(elsewhere).create_key()["KeyMetadata"]["KeyId"]
        kms_in(elsewhere).create_alias(AliasName=stage.alias, TargetKeyId=key_id)
        status, content, stderr = hover_secrets(elsewhere, "encrypt", "--stage", stage.name, "-", stdin=plaintext)
        assert status == 0, stderr
        stage.secrets_file.write_bytes(content)
        expected_in_message += [stage.alias, f"stage {stage.name}"]
    elif case == "garbled":
        stage.secrets_file.write_bytes(b"not-hex------at all")
    elif case == "unknown version":
        stage.secrets_file.write_bytes(b"hover-secrets:v9:alias/x:AA==:AA==:AA==\n")
        expected_in_message += ['"v9"']
    elif case == "invalid dotenv":
        secret = secrets.token_urlsafe(12)
        distinctive.append(secret)
        stage.secrets_file.write_bytes(legacy_secrets_file(kms, stage.alias, f"A=1\nDB_PASSWORD=two {secret}\n".encode()))
        expected_in_message += ["line 2: DB_PASSWORD"]
    elif case == "unreadable":
        stage.secrets_file.mkdir()

    runtime = start_with_secrets(start_runtime, moto, stage)
    status, response = runtime.invoke_raw(b'{"command": "hover:ping"}')
    assert response["errorType"] == CASES[case], response
    for expected in expected_in_message:
        assert expected in response["errorMessage"], response
    log = runtime.log()
    assert CASES[case] in log
    assert not any(value in response["errorMessage"] or value in log for value in distinctive)


def test_the_tool_refuses_invalid_dotenv_naming_the_line_not_the_value(moto, kms, tmp_path):
    stage = Stage(kms, tmp_path)
    status, output, stderr = hover_secrets(
        moto, "encrypt", "--stage", stage.name, "-", stdin=b"A=1\n\nPASSWORD=hunter2 and more\n"
    )
    assert (status, output) == (1, b"")
    assert "Hover.SecretsInvalidDotenv" in stderr and "line 3: PASSWORD" in stderr
    assert "hunter2" not in stderr


def test_the_tool_names_an_unknown_key_and_the_stage(moto, kms, tmp_path):
    status, output, stderr = hover_secrets(
        moto, "encrypt", "--stage", "nowhere", "--key", "alias/no-such-key", "-", stdin=b"A=1\n"
    )
    assert (status, output) == (1, b"")
    assert "Hover.SecretsKeyNotFound" in stderr and "alias/no-such-key" in stderr and "stage nowhere" in stderr


def test_the_tool_says_when_kms_is_unreachable(moto, tmp_path):
    unreachable = {**moto, "AWS_ENDPOINT_URL_KMS": "http://127.0.0.1:9"}
    status, output, stderr = hover_secrets(unreachable, "encrypt", "--stage", "shop", "-", stdin=b"A=1\n")
    assert (status, output) == (1, b"")
    assert "Hover.SecretsKmsUnavailable" in stderr and "alias/shop-secrets-key" in stderr


def test_a_kms_that_never_answers_fails_within_lambdas_init_budget(moto):
    # A listener that accepts connections and never answers: a fake, since a KMS that hangs
    # cannot be produced with moto.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        hanging = {**moto, "AWS_ENDPOINT_URL_KMS": f"http://127.0.0.1:{silent.getsockname()[1]}"}
        started = time.monotonic()
        status, output, stderr = hover_secrets(hanging, "encrypt", "--stage", "shop", "-", stdin=b"A=1\n")
        elapsed = time.monotonic() - started
    assert (status, output) == (1, b"")
    assert "Hover.SecretsKmsUnavailable" in stderr, stderr
    # The client gives up after 5 s; the bound that matters is Lambda's 10 s for init, with
    # room for a loaded machine.
    assert 4 <= elapsed < 9.5, elapsed


def test_the_tool_writes_the_encrypted_file_where_asked(moto, kms, tmp_path):
    stage = Stage(kms, tmp_path)
    target = tmp_path / "out.env"
    status, output, stderr = hover_secrets(
        moto, "encrypt", "--stage", stage.name, "--output", str(target), "-", stdin=b"A=1\n"
    )
    assert (status, output) == (0, b""), stderr
    status, decrypted, stderr = hover_secrets(moto, "decrypt", "--stage", stage.name, str(target))
    assert decrypted == b"A=1\n", stderr


def test_a_dash_as_output_is_stdout(moto, kms, tmp_path):
    """`-o -` writes to stdout, as `-` reads stdin; it used to create a file named `-`."""
    stage = Stage(kms, tmp_path)
    work = tmp_path / "work"
    work.mkdir()
    run = lambda *arguments, stdin=b"": subprocess.run(  # noqa: E731
        [str(HOVER_SECRETS), *arguments],
        input=stdin,
        capture_output=True,
        cwd=work,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **moto},
        timeout=60,
    )
    encrypted = run("encrypt", "--stage", stage.name, "-o", "-", "-", stdin=b"A=1\n")
    assert encrypted.returncode == 0, encrypted.stderr
    assert encrypted.stdout.startswith(f"hover-secrets:v2:{stage.alias}:".encode())
    reencrypted = run("reencrypt", "--stage", stage.name, "--output", "-", "-", stdin=encrypted.stdout)
    assert reencrypted.returncode == 0, reencrypted.stderr
    assert reencrypted.stdout.startswith(b"hover-secrets:v2:") and reencrypted.stdout != encrypted.stdout
    assert list(work.iterdir()) == []
    decrypted = run("decrypt", "--stage", stage.name, "-", stdin=reencrypted.stdout)
    assert (decrypted.returncode, decrypted.stdout) == (0, b"A=1\n"), decrypted.stderr


def test_a_change_in_any_part_of_a_v2_file_is_refused_by_the_tool(moto, kms, tmp_path):
    """One changed byte in each field, against moto's KMS (every byte is covered by the unit
    tests, with an in-process stand-in for KMS), each refused with its own error type."""
    stage = Stage(kms, tmp_path)
    status, encrypted, stderr = hover_secrets(moto, "encrypt", "--stage", stage.name, "-", stdin=b"A=1\n")
    assert status == 0, stderr
    text = encrypted.decode()
    ciphertext_at = text.rindex(":") + 1
    nonce_at = text.rindex(":", 0, ciphertext_at - 1) + 1
    wrapped_at = text.rindex(":", 0, nonce_at - 1) + 1
    positions = {
        "magic": (0, "Hover.SecretsGarbled"),
        # "v2" becomes "vQ", which is not a version.
        "version": (len("hover-secrets:v"), "Hover.SecretsGarbled"),
        # "alias/…" becomes "alQas/…". Real KMS would refuse that key id; moto's Decrypt does
        # not check it and unwraps the data key, and the tag, which covers the header, fails.
        "key id": (len("hover-secrets:v2:") + 2, "Hover.SecretsTampered"),
        # moto's wrapped key starts with its KMS key's id (36 bytes): changed, it names a key
        # moto does not have, which KMS answers as it answers a key of another account.
        "wrapped key, key id part": (wrapped_at + 40, "Hover.SecretsAccessDenied"),
        # Past the key id, KMS cannot open the wrapped key under this stage's context.
        "wrapped key, sealed part": (wrapped_at + 80, "Hover.SecretsWrongStage"),
        "nonce": (nonce_at + 3, "Hover.SecretsTampered"),
        "ciphertext": (ciphertext_at + 1, "Hover.SecretsTampered"),
        "tag": (len(text) - 4, "Hover.SecretsTampered"),
        # The ciphertext field ends in "Q": not base64.
        "line end": (len(text) - 1, "Hover.SecretsGarbled"),
    }
    for part, (position, error_type) in positions.items():
        altered = bytearray(encrypted)
        altered[position] = ord("Q") if altered[position] != ord("Q") else ord("R")
        status, output, stderr = hover_secrets(moto, "decrypt", "--stage", stage.name, "-", stdin=bytes(altered))
        assert (status, output) == (1, b""), part
        assert stderr.startswith(f"hover-secrets: {error_type}: "), (part, stderr)
    assert hover_secrets(moto, "decrypt", "--stage", stage.name, "-", stdin=encrypted)[:2] == (0, b"A=1\n")


def v2_cuts(encrypted):
    """Places to cut a v2 file short, each of which leaves it garbled: after the magic and
    version (the 16 bytes that used to panic the parser), in or after each field, and
    inside the ciphertext where its base64 no longer ends whole."""
    text = encrypted.decode()
    ciphertext_at = text.rindex(":") + 1
    nonce_at = text.rindex(":", 0, ciphertext_at - 1) + 1
    wrapped_at = text.rindex(":", 0, nonce_at - 1) + 1
    inside_ciphertext = ciphertext_at + 4 * ((len(text) - 1 - ciphertext_at) // 8) + 2
    return {
        "version, no colon": len("hover-secrets:v2"),
        "version": len("hover-secrets:v2:"),
        "key id": len("hover-secrets:v2:") + 5,
        "wrapped key": wrapped_at + 10,
        "nonce": nonce_at + 5,
        "before the ciphertext": ciphertext_at,
        "ciphertext": inside_ciphertext,
    }


def test_a_v2_file_cut_short_is_garbled_at_init(start_runtime, moto, kms, tmp_path):
    stage = Stage(kms, tmp_path)
    values, plaintext, distinctive = random_secrets()
    status, encrypted, stderr = hover_secrets(moto, "encrypt", "--stage", stage.name, "-", stdin=plaintext)
    assert status == 0, stderr
    for cut, length in v2_cuts(encrypted).items():
        stage.secrets_file.write_bytes(encrypted[:length])
        runtime = start_with_secrets(start_runtime, moto, stage)
        status, response = runtime.invoke_raw(b'{"command": "hover:ping"}')
        assert response["errorType"] == "Hover.SecretsGarbled", (cut, response)
        assert response["errorMessage"].startswith(f"{stage.secrets_file}: the secrets file is garbled: "), (
            cut,
            response,
        )
        log = runtime.log()
        assert "Hover.SecretsGarbled" in log, cut
        assert "panicked" not in log, cut
        runtime.stop()
