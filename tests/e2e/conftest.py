"""End-to-end harness: the runtime as Lambda runs it.

AWS's Runtime Interface Emulator (RIE) starts docker/bootstrap, which runs php/bootstrap.php
with the hover extension and the example Laravel application; tests invoke it over HTTP
exactly as the Lambda service would, and read what the runtime logged.
"""

import base64
import json
import os
import pathlib
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
RIE = ROOT / ".tools" / "aws-lambda-rie"
EXAMPLE_APP = ROOT / "example-app"
BOOTSTRAP = ROOT / "docker" / "bootstrap"


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def runtime_environment(**overrides):
    """The variables Lambda would give the runtime, plus where this checkout keeps it."""
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOVER_PHP": "/usr/bin/php8.2",
        "HOVER_EXTENSION": str(ROOT / "target" / "release" / "libhover.so"),
        "HOVER_BOOTSTRAP": str(ROOT / "php" / "bootstrap.php"),
        "LAMBDA_TASK_ROOT": str(EXAMPLE_APP),
        "AWS_LAMBDA_FUNCTION_NAME": "example-production-cli",
    }
    environment.update({name: str(value) for name, value in overrides.items()})
    return environment


class Runtime:
    """One RIE with the runtime behind it, on ports of its own."""

    def __init__(self, directory, function_timeout=30, bootstrap=BOOTSTRAP, **environment):
        self.directory = pathlib.Path(directory)
        self.directory.mkdir(parents=True, exist_ok=True)
        self.storage = self.directory / "storage"
        self.log_path = self.directory / "runtime.log"
        self.port = free_port()
        api_port = free_port()
        environment.setdefault("HOVER_STORAGE_PATH", self.storage)
        # php-fpm's socket and pid, apart from any other runtime's: tests run several.
        self.fpm_dir = pathlib.Path(f"/tmp/hover-fpm-{self.port}")
        environment.setdefault("HOVER_FPM_RUN_DIR", self.fpm_dir)
        with open(self.log_path, "wb") as log:
            self.process = subprocess.Popen(
                [
                    str(RIE),
                    "--runtime-interface-emulator-address",
                    f"127.0.0.1:{self.port}",
                    "--runtime-api-address",
                    f"127.0.0.1:{api_port}",
                    str(bootstrap),
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=runtime_environment(AWS_LAMBDA_FUNCTION_TIMEOUT=function_timeout, **environment),
            )
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"the RIE did not start:\n{self.log()}")
                time.sleep(0.05)

    def invoke_raw(self, payload: bytes, headers=None):
        """Posts an event; returns the HTTP status and the body, parsed when it is JSON."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations",
            data=payload,
            headers=headers or {},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                status, body = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, body = error.code, error.read()
        try:
            return status, json.loads(body)
        except ValueError:
            return status, body

    def invoke(self, event):
        return self.invoke_raw(json.dumps(event).encode())[1]

    def command(self, line):
        """Runs an artisan command line; returns the exit code and the decoded output."""
        response = self.invoke({"command": line})
        assert set(response) == {"exit_code", "output"}, response
        return response["exit_code"], base64.b64decode(response["output"]).decode()

    def log(self):
        return self.log_path.read_text(errors="replace")

    def pid(self):
        """The runtime process the RIE started (it starts it on the first invocation)."""
        (pid,) = subprocess.run(
            ["ps", "--ppid", str(self.process.pid), "-o", "pid="], capture_output=True, text=True, check=True
        ).stdout.split()
        return int(pid)

    def stop(self):
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.fpm_dir, ignore_errors=True)


@pytest.fixture
def start_runtime(tmp_path):
    """Starts runtimes for one test and stops them after it."""
    started = []

    def start(**options):
        runtime = Runtime(tmp_path / f"runtime-{len(started)}", **options)
        started.append(runtime)
        return runtime

    yield start
    for runtime in started:
        runtime.stop()


def artisan(*arguments):
    """Runs `php artisan ARGUMENTS --no-interaction 2>&1` on the example app as the original
    runtime ran each command (the manifest's environment exported, storage under /tmp);
    returns the exit status and the output: the oracle for what a response must carry."""
    storage = pathlib.Path(os.environ.get("TMPDIR", "/tmp")) / f"hover-artisan-{os.getpid()}"
    for folder in ["bootstrap/cache", "framework/cache/data", "framework/views", "logs"]:
        (storage / folder).mkdir(parents=True, exist_ok=True)
    manifest = json.loads((EXAMPLE_APP / "hover_runtime" / "manifest.json").read_text())
    environment = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOVER_STORAGE_PATH": str(storage),
        **{name: str(value).lower() if isinstance(value, bool) else str(value) for name, value in manifest["environment"].items()},
        **{f"APP_{kind}_CACHE": str(storage / "bootstrap" / "cache" / f"{kind.lower()}.php") for kind in ["CONFIG", "SERVICES", "PACKAGES", "ROUTES", "EVENTS"]},
    }
    finished = subprocess.run(
        ["php8.2", str(EXAMPLE_APP / "artisan"), *arguments, "--no-interaction"],
        env=environment,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        timeout=60,
    )
    return finished.returncode, finished.stdout.decode()


def process_is_gone(pid):
    """Whether a process has ended (a zombie waiting for its reaper counts as ended)."""
    try:
        stat = pathlib.Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


@pytest.fixture(scope="module")
def cli(tmp_path_factory):
    """A CLI function shared by a module's tests, with a short timeout for the deadline test."""
    runtime = Runtime(tmp_path_factory.mktemp("cli"), function_timeout=4)
    yield runtime
    runtime.stop()


MOTO_SERVER = ROOT / ".venv" / "bin" / "moto_server"
HOVER_SECRETS = ROOT / "target" / "release" / "hover-secrets"
AWS_TEST_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_REGION": "us-east-1",
}


def start_moto(log_path):
    """Starts moto's server (KMS, SQS) on a free port; returns the process and the variables
    that point AWS SDKs at it, as a Lambda function's environment would hold real ones."""
    port = free_port()
    with open(log_path, "wb") as log:
        process = subprocess.Popen(
            [str(MOTO_SERVER), "-H", "127.0.0.1", "-p", str(port)], stdout=log, stderr=subprocess.STDOUT
        )
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"moto_server did not start: {pathlib.Path(log_path).read_text()}")
            time.sleep(0.1)
    endpoint = f"http://127.0.0.1:{port}"
    return process, {**AWS_TEST_CREDENTIALS, "AWS_ENDPOINT_URL_KMS": endpoint, "AWS_ENDPOINT_URL_SQS": endpoint}


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    """moto's server for the whole session; yields the variables that reach it."""
    process, environment = start_moto(tmp_path_factory.mktemp("moto") / "moto.log")
    yield environment
    process.terminate()
    process.wait(timeout=10)


def kms_client(aws_environment):
    """A boto3 KMS client on moto, for making keys and legacy files."""
    import boto3

    return boto3.client(
        "kms",
        endpoint_url=aws_environment["AWS_ENDPOINT_URL_KMS"],
        region_name=aws_environment["AWS_REGION"],
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )


@pytest.fixture
def kms(moto):
    return kms_client(moto)


def hover_secrets(aws_environment, *arguments, stdin=b""):
    """Runs the hover-secrets tool; returns its exit status, stdout and stderr."""
    result = subprocess.run(
        [str(HOVER_SECRETS), *arguments],
        input=stdin,
        capture_output=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin:/bin"), **aws_environment},
        timeout=60,
    )
    return result.returncode, result.stdout, result.stderr.decode()


def legacy_secrets_file(kms, alias, plaintext):
    """A secrets file as the original Hover CLI made it: a 32-character hex key text wrapped
    by the KMS key `alias`, the payload encrypted by openssl with AES-256-CBC."""
    import secrets

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
