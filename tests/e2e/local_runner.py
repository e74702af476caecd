"""The local runner (scripts/local.py serve) as a subprocess, for the local runner's tests."""

import pathlib
import re
import signal
import subprocess
import threading
import time

from conftest import ROOT, free_port

LOCAL = ROOT / "scripts" / "local.py"
PYTHON = ROOT / ".venv" / "bin" / "python"


class LocalRunner:
    """`local.py serve --port <free>`; its output is collected by a thread. From the working
    tree unless `source` says otherwise (`("--image", NAME)`)."""

    def __init__(self, *arguments, environment=None, source=("--working-tree",)):
        self.port = free_port()
        self.lines = []
        self.process = subprocess.Popen(
            [str(PYTHON), str(LOCAL), "serve", *source, "--port", str(self.port), *arguments],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=environment,
        )
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        deadline = time.monotonic() + 30
        while not any(line.startswith("Hover local: http://") for line in self.lines):
            if self.process.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError("the local runner did not start:\n" + self.output())
            time.sleep(0.05)
        self.url = f"http://127.0.0.1:{self.port}"
        self.scratch = pathlib.Path(re.search(r"^hover local: scratch: (\S+)", self.output(), re.M).group(1))

    def _read(self):
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    def output(self):
        return "\n".join(self.lines)

    def run(self, *arguments, timeout=90):
        """Runs `local.py ARGUMENTS --port <port>` (artisan, queue)."""
        return subprocess.run(
            [str(PYTHON), str(LOCAL), arguments[0], "--port", str(self.port), *arguments[1:]],
            capture_output=True,
            timeout=timeout,
        )

    @staticmethod
    def run_without_server(*arguments):
        """Runs `local.py ARGUMENTS --port <a port no runner has>`."""
        return subprocess.run(
            [str(PYTHON), str(LOCAL), arguments[0], "--port", str(free_port()), *arguments[1:]],
            capture_output=True,
            timeout=30,
        )

    def sessions(self):
        """The sessions of the runner's emulators (each leads one: the runtime, php-fpm and
        commands' processes are in it)."""
        return subprocess.run(["ps", "--ppid", str(self.process.pid), "-o", "pid="], capture_output=True, text=True).stdout.split()

    def stop(self, sig=signal.SIGTERM):
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(timeout=5)


def session_processes(sessions):
    """`pid args` of the live processes of those sessions."""
    if not sessions:
        return []
    listing = subprocess.run(["ps", "-ww", "-s", ",".join(sessions), "-o", "pid=,stat=,args="], capture_output=True, text=True).stdout
    return [line.strip() for line in listing.splitlines() if line.strip() and line.split()[1][0] not in "ZX"]
