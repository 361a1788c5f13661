"""A baked project served outside Docker, by the server command of its own Dockerfile."""

import subprocess
from contextlib import contextmanager
from pathlib import Path

import requests

from testkit.dockerfile import server_command
from testkit.harness import free_port, stop_process, wait_until


@contextmanager
def serving(args: list, cwd: Path, env: dict, port: int):
    """Runs a web server command until the block ends; yields its URL once /health answers 200."""
    process = subprocess.Popen([str(arg) for arg in args], cwd=cwd, env=env)  # pylint: disable=consider-using-with
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{url}/health"), timeout=20, what=f"{args[0]} on port {port}")
        yield url
    finally:
        stop_process(process)


@contextmanager
def gunicorn_server(project: Path, python: Path, redis_url: str, password_file: Path | None = None):
    """Serves the project with the server command of its own Dockerfile, on a free loopback port; the Redis
    password, if any, in a file, as Compose and Swarm hand it over."""
    port = free_port()
    executable, *args = server_command(project, f"127.0.0.1:{port}")
    env = {"REDIS_URL": redis_url, "PATH": str(python.parent)}
    if password_file:
        env["REDIS_PASSWORD_FILE"] = str(password_file)
    with serving([python.parent / executable, *args], project / "web", env, port) as url:
        yield url


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.ConnectionError:
        return False
