"""The local runner from the image: each function a container of the example app's image
(the RIE as its entrypoint, user 993, read-only root), the front door on localhost."""

import json
import subprocess
import urllib.request

import pytest
from local_runner import LocalRunner

from conftest import APP_IMAGE


@pytest.fixture(scope="module")
def runner():
    runner = LocalRunner(source=("--image", APP_IMAGE))
    yield runner
    runner.stop()


def containers_of(runner):
    listed = subprocess.run(["docker", "ps", "-a", "--format", "{{.Names}}"], capture_output=True, text=True, check=True)
    return [name for name in listed.stdout.split() if name.startswith("hover-local-")]


def test_it_says_it_runs_the_image(runner):
    assert f"functions run in the image {APP_IMAGE}" in runner.output()
    assert len(containers_of(runner)) == 3


def test_a_browser_request_is_served_by_the_image(runner):
    with urllib.request.urlopen(f"{runner.url}/echo?a[]=1&a[]=2", timeout=30) as response:
        seen = json.loads(response.read())
    assert response.status == 200
    assert seen["query"] == {"a": ["1", "2"]}, seen


def test_artisan_and_a_queue_message_reach_the_image(runner):
    finished = runner.run("artisan", "hover:greet Image")
    assert (finished.returncode, finished.stdout.decode()) == (0, "Hello, Image!\n")
    finished = runner.run("queue", "--job", "Succeeds", "from-the-image")
    assert finished.returncode == 0, finished.stdout + finished.stderr
    assert json.loads(finished.stdout) == {"batchItemFailures": []}


def test_stopping_removes_the_containers(runner):
    runner.stop()
    assert runner.process.returncode == 0, runner.output()
    assert containers_of(runner) == []
