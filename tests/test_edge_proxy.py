"""The swarm stack's edge proxy (deploy/haproxy.cfg) on the real HAProxy image, in front of web tasks that count a
request and then fail it: a request that reached a task is never sent again, so nothing is counted twice."""

import secrets

import pytest
import requests

from testkit.harness import free_port, run, wait_until
from testkit.projects import bake
from testkit.template import derived

pytestmark = pytest.mark.docker

# A web task that counts every GET / (one "COUNTED" line on stdout) and then fails it: with a 503, or by closing
# the connection without an answer. /health answers 200, so the proxy keeps it in rotation.
FAILING_TASK = """
import http.server, sys

class Task(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        if self.path == "/health":
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        print("COUNTED", flush=True)
        if sys.argv[1] == "503":
            self.send_response(503)
            self.send_header("Content-Length", "0")
            self.end_headers()

    def log_message(self, *args):
        pass

http.server.ThreadingHTTPServer(("", 8000), Task).serve_forever()
"""
REQUESTS = 10


@pytest.fixture
def edge(cookies, tmp_path, docker_engine):  # pylint: disable=unused-argument
    """A function that starts the generated edge proxy on a network of its own in front of two failing web tasks
    (found as tasks.web-service through Docker's DNS, as in the swarm); returns its URL and the tasks."""
    config = bake(cookies, deploy="swarm") / "deploy" / "haproxy.cfg"
    network = f"tracker-ci-edge-{secrets.token_hex(4)}"
    containers = []
    run(["docker", "network", "create", network])

    def start(failure: str) -> tuple[str, list[str]]:
        tasks = [_start(["--network-alias", "tasks.web-service", derived("__python_image"), "python3", "-c",
                         FAILING_TASK, failure], network) for _ in range(2)]  # fmt: skip
        port = free_port()
        proxy = _start(["--publish", f"127.0.0.1:{port}:8080", "--volume",
                        f"{config}:/usr/local/etc/haproxy/haproxy.cfg:ro", derived("__proxy_image")], network)  # fmt: skip
        containers.extend([*tasks, proxy])
        url = f"http://127.0.0.1:{port}"
        wait_until(lambda: _status(f"{url}/health") == 200, 60, "the proxy to find both tasks healthy", 0.3)
        return url, tasks

    try:
        yield start
    finally:
        if containers:
            run(["docker", "rm", "--force", *containers], check=False)
        run(["docker", "network", "rm", network], check=False)


def _start(args: list[str], network: str) -> str:
    return run(["docker", "run", "--detach", "--network", network, *args]).stdout.strip()


def _status(url: str) -> int | None:
    try:
        return requests.get(url, timeout=5).status_code
    except requests.RequestException:
        return None


@pytest.mark.parametrize(("failure", "status"), [("503", 503), ("close", 502)], ids=["answers-503", "closes"])
def test_should_send_a_request_that_reached_a_task_only_once(edge, failure, status):
    # Given: two tasks that count, then fail, every request
    url, tasks = edge(failure)

    # When
    statuses = [_status(f"{url}/") for _ in range(REQUESTS)]

    # Then: each client request failed once, counted once: the proxy retried none of them
    counted = sum(run(["docker", "logs", task]).stdout.split().count("COUNTED") for task in tasks)
    assert statuses == [status] * REQUESTS
    assert counted == REQUESTS
