"""Hover local: a Laravel app behind the real runtime under AWS's Runtime Interface Emulator,
with an HTTP front door on localhost.

    local.py serve [--app DIR] [--port 8000] [--host 127.0.0.1] [-e NAME=VALUE ...]
    local.py artisan [--port 8000] 'migrate --force'
    local.py queue [--port 8000] --job CLASS [ARGS ...]     # payload made by the app
    local.py queue [--port 8000] --body JSON                # a raw job payload

`serve` starts one RIE per function (`<name>-local-http`, `<name>-local-cli` and, when the
manifest has queues, `<name>-<first queue>-queue`), each running docker/bootstrap from the
working tree, then serves HTTP on host:port: each request becomes an API Gateway HTTP API
(v2) event for the HTTP function, and its response a real HTTP response. It writes a state
file (`<tmp>/hover-local-<port>.json`) that `artisan` and `queue` read to find the CLI and
queue functions. Ctrl-C (or SIGTERM) stops everything it started.

Where the functions run is a *launcher*'s business: `WorkingTree` runs the RIE binary from
`.tools/` with the checkout's PHP, extension and bootstrap. An image mode (`--image NAME`,
the RIE inside `docker run` of a stage's image) is a second launcher with the same
`start()`; it is not written yet.

Python 3.11, standard library only.
"""

import argparse
import base64
import hashlib
import http.server
import json
import os
import pathlib
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid

ROOT = pathlib.Path(__file__).resolve().parents[1]
INVOKE_PATH = "/2015-03-31/functions/function/invocations"
FUNCTION_TIMEOUT = 60  # seconds, each function's (Lambda's AWS_LAMBDA_FUNCTION_TIMEOUT); --timeout
EVENT_LIMIT = 6 * 1024 * 1024  # bytes: Lambda's limit on a synchronous invocation's payload
REGION = "us-east-1"
ACCOUNT = "123456789012"
# Caller variables that reach the runtimes (AWS credentials and endpoints, Hover's own
# settings), except those the runner decides per function.
PASSED_PREFIXES = ("AWS_", "HOVER_")
NOT_PASSED = {"HOVER_FUNCTION_TYPE", "HOVER_STORAGE_PATH", "HOVER_FPM_RUN_DIR", "AWS_LAMBDA_FUNCTION_NAME"}
# What the image sets for itself: this checkout's paths mean nothing in a container.
IMAGE_OWN = {"HOVER_PHP", "HOVER_EXTENSION", "HOVER_BOOTSTRAP", "HOVER_RIE", "HOVER_EXAMPLE_APP"}
# The images docker/build.sh builds.
RUNTIME_IMAGE = "hover/runtime:php8.2"
EXAMPLE_IMAGE = "hover/example-app:latest"
# Hop-by-hop headers: never part of an event, never copied from a response.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "transfer-encoding", "te", "trailer", "upgrade"}


def state_path(port):
    return pathlib.Path(tempfile.gettempdir()) / f"hover-local-{port}.json"


def free_port(host="127.0.0.1"):
    with socket.socket() as probe:
        probe.bind((host, 0))
        return probe.getsockname()[1]


OUTPUT_LOCK = threading.Lock()


def emit(line):
    """Writes one line to stdout, whole (the log relays and the front door share it)."""
    data = line if isinstance(line, bytes) else line.encode()
    with OUTPUT_LOCK:
        try:
            sys.stdout.buffer.write(data if data.endswith(b"\n") else data + b"\n")
            sys.stdout.buffer.flush()
        except (OSError, ValueError):
            pass


def say(message):
    emit(f"hover local: {message}")


class Function:
    """One Lambda function: its name, its RIE's invoke port, its process."""

    def __init__(self, kind, name, port):
        self.kind = kind
        self.name = name
        self.port = port
        self.process = None
        self.log_thread = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}{INVOKE_PATH}"


class WorkingTree:
    """Runs each function's RIE from the working tree: .tools/aws-lambda-rie starting
    docker/bootstrap with this checkout's PHP, extension and bootstrap, the app as
    LAMBDA_TASK_ROOT, storage and php-fpm's run directory under a temporary directory."""

    def __init__(self, app, scratch, extra_environment, timeout):
        self.app = app
        self.scratch = scratch
        self.extra_environment = extra_environment
        self.timeout = timeout

    def environment(self, function):
        own = self.scratch / function.kind
        environment = {
            "PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin"),
            "LANG": os.environ.get("LANG", "C.UTF-8"),
            "AWS_REGION": REGION,
            "AWS_DEFAULT_REGION": REGION,
            # No instance metadata on a developer's machine: an SDK looking for credentials
            # there would wait for it (pass AWS_* credentials, or set it to false).
            "AWS_EC2_METADATA_DISABLED": "true",
            "HOVER_PHP": "/usr/bin/php8.2",
            "HOVER_EXTENSION": str(ROOT / "target" / "release" / "libhover.so"),
            "HOVER_BOOTSTRAP": str(ROOT / "php" / "bootstrap.php"),
        }
        environment.update(
            {name: value for name, value in os.environ.items() if name.startswith(PASSED_PREFIXES) and name not in NOT_PASSED and not name.startswith("AWS_LAMBDA_")}
        )
        environment.update(self.extra_environment)
        environment.update(
            {
                "LAMBDA_TASK_ROOT": str(self.app),
                "AWS_LAMBDA_FUNCTION_NAME": function.name,
                "AWS_LAMBDA_FUNCTION_TIMEOUT": str(self.timeout),
                "HOVER_STORAGE_PATH": str(own / "storage"),
                "HOVER_FPM_RUN_DIR": str(own / "fpm"),
            }
        )
        return environment

    def start(self, function):
        """Starts the function's RIE in a session of its own (so a terminal's Ctrl-C
        reaches the runner only, which stops it); returns the process, whose stdout
        carries the RIE's and the runtime's output."""
        rie = ROOT / ".tools" / "aws-lambda-rie"
        if not os.access(rie, os.X_OK):
            raise SystemExit(f"hover local: {rie} is missing: run scripts/setup.sh")
        (self.scratch / function.kind).mkdir(parents=True, exist_ok=True)
        return subprocess.Popen(
            [
                str(rie),
                "--runtime-interface-emulator-address",
                f"127.0.0.1:{function.port}",
                "--runtime-api-address",
                f"127.0.0.1:{free_port()}",
                str(ROOT / "docker" / "bootstrap"),
            ],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            env=self.environment(function),
            cwd=str(self.app),
            start_new_session=True,
        )

    def stop(self, function):
        """Nothing beyond stop_function: the RIE's session holds everything."""


class Image:
    """Runs each function in a container of the image, as Lambda runs it and as AWS
    documents local runs: AWS's RIE (from .tools, mounted on /aws-lambda) as the
    entrypoint in front of /opt/bootstrap, as a user that is not root (993), on a read-only
    root with a writable /tmp. The app is the image's own /var/task, or, given with --app,
    mounted there read-only (the runtime image then serves it)."""

    def __init__(self, image, app, mount_app, extra_environment, timeout):
        self.image = image
        self.app = app
        self.mount_app = mount_app
        self.extra_environment = extra_environment
        self.timeout = timeout

    def container(self, function):
        return f"hover-local-{function.port}"

    def start(self, function):
        rie = ROOT / ".tools" / "aws-lambda-rie"
        if not os.access(rie, os.X_OK):
            raise SystemExit(f"hover local: {rie} is missing: run scripts/setup.sh")
        environment = {"AWS_REGION": REGION, "AWS_DEFAULT_REGION": REGION, "AWS_EC2_METADATA_DISABLED": "true"}
        environment.update(
            {name: value for name, value in os.environ.items() if name.startswith(PASSED_PREFIXES) and name not in NOT_PASSED and name not in IMAGE_OWN and not name.startswith("AWS_LAMBDA_")}
        )
        environment.update(self.extra_environment)
        environment.update({"AWS_LAMBDA_FUNCTION_NAME": function.name, "AWS_LAMBDA_FUNCTION_TIMEOUT": str(self.timeout)})
        command = ["docker", "run", "--rm", "--name", self.container(function), "-p", f"127.0.0.1:{function.port}:8080"]
        command += ["-v", f"{rie}:/aws-lambda/aws-lambda-rie:ro", "--entrypoint", "/aws-lambda/aws-lambda-rie"]
        command += ["--user", "993:993", "--read-only", "--tmpfs", "/tmp:rw,exec,nosuid,nodev,size=512m"]
        if self.mount_app:
            command += ["-v", f"{self.app}:/var/task:ro"]
        for name, value in environment.items():
            command += ["-e", f"{name}={value}"]
        command += [self.image, "/opt/bootstrap"]
        return subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)

    def stop(self, function):
        subprocess.run(["docker", "rm", "-f", self.container(function)], capture_output=True, timeout=30)


def docker_has(image):
    """Whether a Docker engine answers and has `image`."""
    if shutil.which("docker") is None:
        return False
    try:
        found = subprocess.run(["docker", "image", "inspect", image], capture_output=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return found.returncode == 0


def make_launcher(arguments, app, scratch, extra):
    """Where the functions run: in containers of the image when Docker is there (`--image
    NAME`, or by default the example app's image for the example app and the runtime image
    for another, when the engine has it), from the working tree otherwise (or with
    `--working-tree`)."""
    if not arguments.working_tree:
        example = app == (ROOT / "example-app").resolve()
        image = arguments.image or (EXAMPLE_IMAGE if example else RUNTIME_IMAGE)
        if docker_has(image):
            mount_app = not (example and image == EXAMPLE_IMAGE)
            say(f"functions run in the image {image}" + (f", the app mounted on /var/task" if mount_app else ""))
            return Image(image, app, mount_app, extra, arguments.timeout)
        if arguments.image:
            raise SystemExit(f"hover local: Docker does not answer or has no image {arguments.image} (docker/build.sh builds them)")
    say("functions run from the working tree")
    return WorkingTree(app, scratch, extra, arguments.timeout)


def read_manifest(app):
    path = app / "hover_runtime" / "manifest.json"
    try:
        manifest = json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise SystemExit(f"hover local: cannot read {path}: {error}")
    if not isinstance(manifest, dict) or not isinstance(manifest.get("name"), str):
        raise SystemExit(f'hover local: {path}: "name" must be a string')
    return manifest


def queue_of(manifest):
    """The first queue entry: the function's queue name and the SQS queue it reads."""
    queues = manifest.get("queue")
    if not isinstance(queues, dict) or not queues:
        return None
    entry_name, entry = next(iter(queues.items()))
    sqs_names = entry.get("queues") if isinstance(entry, dict) else None
    sqs_name = sqs_names[0] if isinstance(sqs_names, list) and sqs_names and isinstance(sqs_names[0], str) else entry_name
    return entry_name, sqs_name


def invoke(port, event, timeout=FUNCTION_TIMEOUT):
    """Posts an event to an RIE; returns the parsed answer (bytes when it is not JSON). The
    RIE answers by the function's timeout: `timeout` is that, with a margin."""
    request = urllib.request.Request(f"http://127.0.0.1:{port}{INVOKE_PATH}", data=json.dumps(event).encode(), method="POST")
    try:
        with urllib.request.urlopen(request, timeout=timeout + 30) as response:
            body = response.read()
    except urllib.error.HTTPError as error:
        body = error.read()
    try:
        return json.loads(body)
    except ValueError:
        return body


def relay_log(function, stream):
    """Copies a function's output to the terminal, each line prefixed by its function."""
    prefix = f"[{function.kind}] ".encode()
    for line in iter(stream.readline, b""):
        emit(prefix + line)
    stream.close()


def http_event(method, target, version, headers, body, client_ip):
    """An API Gateway HTTP API (payload 2.0) event for a request as received."""
    path, _, query = target.partition("?")
    lowered = {}
    cookie_values = []
    for name, value in headers:
        name = name.lower()
        if name in HOP_BY_HOP:
            continue
        if name == "cookie":
            cookie_values.append(value)
            continue
        lowered[name] = f"{lowered[name]}, {value}" if name in lowered else value
    forwarded_for = lowered.get("x-forwarded-for")
    lowered["x-forwarded-for"] = f"{forwarded_for}, {client_ip}" if forwarded_for else client_ip
    host = lowered.get("host", "localhost")
    lowered.setdefault("x-forwarded-proto", "http")
    if ":" in host.rsplit("]", 1)[-1]:
        lowered.setdefault("x-forwarded-port", host.rsplit(":", 1)[1])
    now = time.time()
    request_id = str(uuid.uuid4())
    event = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": path,
        "rawQueryString": query,
        "headers": lowered,
        "requestContext": {
            "accountId": "anonymous",
            "apiId": "hover-local",
            "domainName": host.rsplit(":", 1)[0] if not host.startswith("[") else host,
            "domainPrefix": "hover-local",
            "http": {
                "method": method,
                "path": path,
                "protocol": version,
                "sourceIp": client_ip,
                "userAgent": lowered.get("user-agent", ""),
            },
            "requestId": request_id,
            "routeKey": "$default",
            "stage": "$default",
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime(now)),
            "timeEpoch": int(now * 1000),
        },
        "isBase64Encoded": False,
    }
    cookies = [part for value in cookie_values for part in value.split("; ") if part]
    if cookies:
        event["cookies"] = cookies
    if query:
        parameters = {}
        for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
            parameters[name] = f"{parameters[name]},{value}" if name in parameters else value
        event["queryStringParameters"] = parameters
    if body:
        event["body"] = base64.b64encode(body).decode()
        event["isBase64Encoded"] = True
    return event


TEXT_TYPES = ("text/", "application/json", "application/javascript", "application/xml", "application/xhtml+xml")


def rewrite_scheme(response_headers, body, host):
    """API Gateway is always HTTPS, so the runtime tells Laravel each request is: the URLs
    it makes are https://<host>/…, which a plain-HTTP front door does not serve. Those that
    point back at the front door are turned into http:// in redirects and text bodies."""
    if not host:
        return body
    https, plain = f"https://{host}".encode(), f"http://{host}".encode()
    for index, (name, value) in enumerate(response_headers):
        if name.lower() in ("location", "content-location", "refresh", "link"):
            response_headers[index] = (name, value.replace(https.decode(), plain.decode()))
    kind = next((value for name, value in response_headers if name.lower() == "content-type"), "")
    encoded = any(name.lower() == "content-encoding" for name, _ in response_headers)
    if body and not encoded and kind.lower().startswith(TEXT_TYPES):
        body = body.replace(https, plain)
        body = body.replace(https.replace(b"/", b"\\/"), plain.replace(b"/", b"\\/"))
    return body


class FrontDoor(http.server.ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address, http_function, rewrite, timeout):
        self.http_function = http_function
        self.rewrite = rewrite
        self.timeout = timeout
        # One request at a time, as one Lambda container takes them (the RIE refuses a
        # second invocation while one runs).
        self.invoke_lock = threading.Lock()
        super().__init__(address, FrontDoorHandler)


class FrontDoorHandler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "HoverLocal"

    def log_message(self, format, *args):
        emit("[front] %s %s" % (self.address_string(), format % args))

    def read_body(self):
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            chunks = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def handle_any(self):
        body = self.read_body()
        event = http_event(self.command, self.path, self.request_version, self.headers.items(), body, self.client_address[0])
        size = len(json.dumps(event))
        if size > EVENT_LIMIT:
            message = f"the request's event is {size} bytes: Lambda takes at most {EVENT_LIMIT} (the body is base64 in it)\n"
            self.answer(413, [("Content-Type", "text/plain; charset=utf-8")], message.encode())
            return
        try:
            with self.server.invoke_lock:
                answer = invoke(self.server.http_function.port, event, self.server.timeout)
        except OSError as error:
            answer = {"errorType": "HoverLocal.InvokeFailed", "errorMessage": f"the HTTP function could not be invoked: {error}"}
        if not isinstance(answer, dict) or "errorType" in answer or ("statusCode" not in answer and "errorMessage" in answer):
            message = json.dumps(answer).encode() if isinstance(answer, dict) else bytes(answer)
            self.answer(502, [("Content-Type", "application/json")], message + b"\n")
            return
        if "statusCode" not in answer:
            # HTTP API's format 2.0 takes a response without statusCode as a JSON body.
            self.answer(200, [("Content-Type", "application/json")], json.dumps(answer).encode())
            return
        headers = []
        for name, value in (answer.get("headers") or {}).items():
            if name.lower() not in HOP_BY_HOP:
                headers.append((name, str(value)))
        for name, values in (answer.get("multiValueHeaders") or {}).items():
            if name.lower() not in HOP_BY_HOP:
                headers.extend((name, str(value)) for value in values)
        headers.extend(("Set-Cookie", cookie) for cookie in answer.get("cookies") or [])
        raw = answer.get("body") or ""
        payload = base64.b64decode(raw) if answer.get("isBase64Encoded") else raw.encode()
        if self.server.rewrite:
            payload = rewrite_scheme(headers, payload, self.headers.get("Host", ""))
        self.answer(int(answer["statusCode"]), headers, payload)

    def answer(self, status, headers, payload):
        self.log_request(status)
        self.send_response_only(status)
        names = {name.lower() for name, _ in headers}
        if "date" not in names:
            self.send_header("Date", self.date_time_string())
        keep_length = self.command == "HEAD" or status in (204, 304)
        for name, value in headers:
            if name.lower() == "content-length" and not keep_length:
                continue
            self.send_header(name, value)
        if self.command == "HEAD" or status in (204, 304) or 100 <= status < 200:
            self.end_headers()
            return
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_OPTIONS = handle_any


def wait_for_port(port, process, timeout=15):
    deadline = time.monotonic() + timeout
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"hover local: the emulator on port {port} did not start")
            time.sleep(0.05)


def session_members(session):
    """The live processes of a session (the RIE leads one of its own)."""
    members = []
    for entry in pathlib.Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if fields[0] not in ("Z", "X") and int(fields[3]) == session:
            members.append(int(entry.name))
    return members


def stop_function(function):
    """Stops a function's RIE (which stops the runtime, and php-fpm with it), then anything
    of its session still running."""
    process = function.process
    if process is None:
        return
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    # The RIE kills the runtime, and php-fpm and a command's process die with it; anything
    # of the RIE's session still there a moment later is killed.
    deadline = time.monotonic() + 3
    while session_members(process.pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    for pid in session_members(process.pid):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    if function.log_thread is not None:
        function.log_thread.join(timeout=5)


def serve(arguments):
    app = pathlib.Path(arguments.app).resolve()
    if not (app / "bootstrap" / "app.php").is_file():
        raise SystemExit(f"hover local: {app} is not a Laravel application (no bootstrap/app.php)")
    manifest = read_manifest(app)
    extra = {}
    for assignment in arguments.env:
        name, equals, value = assignment.partition("=")
        if not equals or not name:
            raise SystemExit(f"hover local: -e {assignment!r}: expected NAME=VALUE")
        extra[name] = value

    try:
        http_function = Function("http", f"{manifest['name']}-local-http", free_port())
        front_door = FrontDoor((arguments.host, arguments.port), http_function, not arguments.keep_https_urls, arguments.timeout)
    except OSError as error:
        raise SystemExit(f"hover local: cannot listen on {arguments.host}:{arguments.port}: {error}")
    port = front_door.server_address[1]

    scratch = pathlib.Path(tempfile.mkdtemp(prefix=f"hover-local-{port}-"))
    try:
        launcher = make_launcher(arguments, app, scratch, extra)
    except SystemExit:
        front_door.server_close()
        shutil.rmtree(scratch, ignore_errors=True)
        raise
    functions = [http_function, Function("cli", f"{manifest['name']}-local-cli", free_port())]
    queue = queue_of(manifest)
    if queue:
        functions.append(Function("queue", f"{manifest['name']}-{queue[0]}-queue", free_port()))
    state = state_path(port)

    stopping = threading.Event()

    def stop(signum, frame):
        if not stopping.is_set():
            stopping.set()
            threading.Thread(target=front_door.shutdown, daemon=True).start()

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    try:
        for function in functions:
            function.process = launcher.start(function)
            function.log_thread = threading.Thread(target=relay_log, args=(function, function.process.stdout), daemon=True)
            function.log_thread.start()
        for function in functions:
            wait_for_port(function.port, function.process)
        state.write_text(
            json.dumps(
                {
                    "url": f"http://{arguments.host}:{port}",
                    "app": str(app),
                    "pid": os.getpid(),
                    "timeout": arguments.timeout,
                    "functions": {f.kind: {"name": f.name, "port": f.port} for f in functions},
                    "queue": {"name": queue[1], "arn": f"arn:aws:sqs:{REGION}:{ACCOUNT}:{queue[1]}"} if queue else None,
                },
                indent=2,
            )
        )
        say(f"functions: {', '.join(f.name for f in functions)}; runtimes' output below, prefixed by function")
        say(f"state file: {state}")
        say(f"scratch: {scratch} (storage, php-fpm's run directories; removed at exit)")
        emit(f"Hover local: http://{arguments.host}:{port} (app: {app})")
        if not stopping.is_set():
            front_door.serve_forever(poll_interval=0.2)
    finally:
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        front_door.server_close()
        for function in functions:
            stop_function(function)
            launcher.stop(function)
        state.unlink(missing_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)
        say("stopped")


def read_state(port):
    path = state_path(port)
    try:
        state = json.loads(path.read_text())
    except (OSError, ValueError):
        raise SystemExit(f"hover local: no server on port {port} ({path} is missing): start `local.py serve --port {port}` first")
    return state


def run_command(state, line):
    answer = invoke(state["functions"]["cli"]["port"], {"command": line}, state["timeout"])
    if not isinstance(answer, dict) or "exit_code" not in answer:
        sys.stderr.write(f"hover local: the CLI function failed: {answer}\n")
        raise SystemExit(2)
    return answer["exit_code"], base64.b64decode(answer["output"])


def artisan(arguments):
    state = read_state(arguments.port)
    exit_code, output = run_command(state, " ".join(arguments.command))
    sys.stdout.buffer.write(output)
    sys.stdout.flush()
    return exit_code


def queue(arguments):
    state = read_state(arguments.port)
    if "queue" not in state["functions"]:
        raise SystemExit("hover local: the app's manifest has no queue: no queue function runs")
    if arguments.body is not None:
        payload = arguments.body
    else:
        line = shlex.join(["example:queue-payload", arguments.job, *arguments.args, f"--queue={state['queue']['name']}"])
        exit_code, output = run_command(state, line)
        if exit_code != 0:
            sys.stderr.write(output.decode(errors="replace"))
            raise SystemExit(f"hover local: `{line}` failed (exit code {exit_code}); an app without that command takes --body JSON")
        payload = output.decode().strip()
    now = str(int(time.time() * 1000))
    message_id = str(uuid.uuid4())
    record = {
        "messageId": message_id,
        "receiptHandle": f"hover-local-{message_id}",
        "body": payload,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": now,
            "SenderId": ACCOUNT,
            "ApproximateFirstReceiveTimestamp": now,
        },
        "messageAttributes": {},
        "md5OfBody": hashlib.md5(payload.encode()).hexdigest(),
        "eventSource": "aws:sqs",
        "eventSourceARN": state["queue"]["arn"],
        "awsRegion": REGION,
    }
    if state["queue"]["name"].endswith(".fifo"):
        record["attributes"].update({"MessageGroupId": "hover-local", "MessageDeduplicationId": message_id, "SequenceNumber": now})
    answer = invoke(state["functions"]["queue"]["port"], {"Records": [record]}, state["timeout"])
    print(json.dumps(answer) if isinstance(answer, dict) else answer)
    if not isinstance(answer, dict) or "batchItemFailures" not in answer:
        return 2
    return 1 if answer["batchItemFailures"] else 0


def main():
    parser = argparse.ArgumentParser(prog="local.py", description="Hover local: a Laravel app behind the runtime under the RIE.")
    commands = parser.add_subparsers(dest="subcommand", required=True)
    serve_parser = commands.add_parser("serve", help="start the functions and the HTTP front door")
    serve_parser.add_argument("--app", default=str(ROOT / "example-app"), help="the Laravel app (default: example-app)")
    serve_parser.add_argument("--port", type=int, default=8000)
    serve_parser.add_argument("--host", default="127.0.0.1")
    serve_parser.add_argument("--timeout", type=int, default=FUNCTION_TIMEOUT, help="each function's timeout in seconds (default 60)")
    serve_parser.add_argument("-e", "--env", action="append", default=[], metavar="NAME=VALUE", help="a variable for the runtimes (repeatable)")
    serve_parser.add_argument("--keep-https-urls", action="store_true", help="do not turn https://<host> into http://<host> in redirects and text bodies")
    serve_parser.add_argument("--image", help=f"run the functions in this image (default when Docker has it: {EXAMPLE_IMAGE} for the example app, {RUNTIME_IMAGE} with the app mounted for another)")
    serve_parser.add_argument("--working-tree", action="store_true", help="run the functions from this checkout even when Docker is there")
    artisan_parser = commands.add_parser("artisan", help="run an artisan command line on the CLI function")
    artisan_parser.add_argument("--port", type=int, default=8000)
    artisan_parser.add_argument("command", nargs="+", help="the command line, e.g. 'migrate --force'")
    queue_parser = commands.add_parser("queue", help="send one SQS message to the queue function")
    queue_parser.add_argument("--port", type=int, default=8000)
    what = queue_parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--job", help="a job class of the app (made into a payload by `example:queue-payload`)")
    what.add_argument("--body", help="a raw job payload (JSON as Laravel puts it on SQS)")
    queue_parser.add_argument("args", nargs="*", help="the job's constructor arguments")
    arguments = parser.parse_args()
    if arguments.subcommand == "serve":
        serve(arguments)
        return 0
    try:
        return artisan(arguments) if arguments.subcommand == "artisan" else queue(arguments)
    except OSError as error:
        raise SystemExit(f"hover local: the server on port {arguments.port} did not answer ({error}); is it still running?")


if __name__ == "__main__":
    sys.exit(main())
