"""The runtime image as Lambda runs it: the example application's image (docker/build.sh)
started with AWS's Runtime Interface Emulator as its entrypoint, as a non-root user (993,
Lambda's) with a read-only root file system and a tmpfs /tmp, and invoked over HTTP.

The event builders of the end-to-end tests (tests/e2e/http_events.py, sqs_events.py) are
reused; this file stands in for tests/e2e/conftest.py for them (ROOT).
"""

import json
import os
import pathlib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))

RIE = (ROOT / ".tools" / "aws-lambda-rie").resolve()
MOTO_SERVER = ROOT / ".venv" / "bin" / "moto_server"
APP_IMAGE = os.environ.get("HOVER_APP_IMAGE", "hover/example-app:latest")
RUNTIME_IMAGE = os.environ.get("HOVER_RUNTIME_IMAGE", "hover/runtime:php8.2")
LAMBDA_USER = "993:993"
"""The user Lambda runs a container image's function as (sbx_user1051)."""
AWS_TEST_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": "us-east-1"}

MEASURED = {}
"""What the tests measured, printed at the end of the run (see pytest_terminal_summary)."""


def docker(*arguments, check=True):
    return subprocess.run(["docker", *arguments], capture_output=True, text=True, check=check)


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def bridge_gateway():
    """The host's address on Docker's default bridge: what a container reaches the host at
    (the network's gateway; daemons that leave it out of the network's IPAM have it on the
    bridge interface, docker0)."""
    gateway = docker("network", "inspect", "bridge", "-f", "{{range .IPAM.Config}}{{.Gateway}}{{end}}").stdout.strip()
    if gateway:
        return gateway
    interface = docker("network", "inspect", "bridge", "-f", '{{index .Options "com.docker.network.bridge.name"}}').stdout.strip()
    addresses = subprocess.run(["ip", "-4", "-o", "addr", "show", "dev", interface or "docker0"], capture_output=True, text=True, check=True)
    return addresses.stdout.split()[3].split("/")[0]


class Function:
    """One Lambda function: a container of the image with the RIE in front of the runtime."""

    def __init__(self, name, image=APP_IMAGE, user=LAMBDA_USER, read_only=True, timeout=30, volumes=(), **environment):
        self.name = name
        self.port = free_port()
        variables = {
            "AWS_LAMBDA_FUNCTION_NAME": name,
            "AWS_LAMBDA_FUNCTION_TIMEOUT": timeout,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": 1024,
            "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
            "AWS_REGION": "us-east-1",
            "TZ": ":UTC",
            **environment,
        }
        options = ["-v", f"{RIE}:/aws-lambda/aws-lambda-rie:ro", "-p", f"127.0.0.1:{self.port}:8080"]
        options += ["--entrypoint", "/aws-lambda/aws-lambda-rie"]
        for source, target in volumes:
            options += ["-v", f"{source}:{target}:ro"]
        if user:
            options += ["--user", user]
        if read_only:
            # Lambda's file system: read-only but for /tmp (512 MB, executable).
            options += ["--read-only", "--tmpfs", "/tmp:rw,exec,nosuid,nodev,size=512m"]
        for key, value in variables.items():
            options += ["-e", f"{key}={value}"]
        self.started = time.monotonic()
        self.id = docker("run", "-d", *options, image, "/opt/bootstrap").stdout.strip()
        deadline = time.monotonic() + 20
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as connection:
                    # docker-proxy accepts before the RIE listens: wait for an answer.
                    connection.sendall(b"GET / HTTP/1.0\r\n\r\n")
                    if connection.recv(1):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"the RIE did not start in {image}:\n{self.logs()}")
            time.sleep(0.05)

    def invoke(self, event):
        """Posts an event as Lambda would; returns the answer (parsed) and its time in seconds."""
        request = urllib.request.Request(
            f"http://127.0.0.1:{self.port}/2015-03-31/functions/function/invocations",
            data=json.dumps(event).encode(),
            method="POST",
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=120) as response:
                body = response.read()
        except urllib.error.HTTPError as error:
            body = error.read()
        elapsed = time.monotonic() - started
        try:
            return json.loads(body), elapsed
        except ValueError:
            return body, elapsed

    def logs(self):
        result = docker("logs", self.id, check=False)
        return result.stdout + result.stderr

    def diff(self):
        """`docker diff`: what the container changed in its file system, tmpfs mounts aside,
        and but for the mount point Docker made for the RIE (/aws-lambda)."""
        changed = docker("diff", self.id).stdout.splitlines()
        return [line for line in changed if not line.split()[-1].startswith("/aws-lambda")]

    def exec(self, *command, user=None):
        return docker("exec", *(["--user", user] if user else []), self.id, *command, check=False)

    def stop(self):
        docker("rm", "-f", self.id, check=False)


@pytest.fixture(scope="session")
def start_function():
    started = []

    def start(name, **options):
        function = Function(name, **options)
        started.append(function)
        return function

    yield start
    for function in started:
        function.stop()


@pytest.fixture(scope="session", autouse=True)
def images():
    for image in (RUNTIME_IMAGE, APP_IMAGE):
        if docker("image", "inspect", image, check=False).returncode != 0:
            pytest.exit(f"{image} is missing: run docker/build.sh first", returncode=2)
    sizes = docker("image", "ls", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}").stdout.splitlines()
    MEASURED["image sizes (docker image ls)"] = [line for line in sizes if line.split()[0] in (RUNTIME_IMAGE, APP_IMAGE)]


@pytest.fixture(scope="session")
def moto(tmp_path_factory):
    """moto's server on the host, on the bridge's address so that containers reach it; yields
    the variables that point the runtime (in a container) and boto3 (here) at it."""
    address = bridge_gateway()
    port = free_port()
    log_path = tmp_path_factory.mktemp("moto") / "moto.log"
    with open(log_path, "wb") as log:
        process = subprocess.Popen([str(MOTO_SERVER), "-H", address, "-p", str(port)], stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while True:
        try:
            socket.create_connection((address, port), timeout=1).close()
            break
        except OSError:
            if time.monotonic() > deadline or process.poll() is not None:
                process.kill()
                raise RuntimeError(f"moto_server did not start: {log_path.read_text()}")
            time.sleep(0.1)
    endpoint = f"http://{address}:{port}"
    yield {**AWS_TEST_CREDENTIALS, "AWS_ENDPOINT_URL_SQS": endpoint, "AWS_ENDPOINT_URL_KMS": endpoint}
    process.terminate()
    process.wait(timeout=10)


def pytest_terminal_summary(terminalreporter):
    if not MEASURED:
        return
    terminalreporter.section("the image, measured")
    for what, value in MEASURED.items():
        if isinstance(value, list):
            terminalreporter.write_line(f"{what}:")
            for line in value:
                terminalreporter.write_line(f"    {line}")
        else:
            terminalreporter.write_line(f"{what}: {value}")
