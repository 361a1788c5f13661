"""Fixtures that give tests real parts: Redis, the Docker engine, an authenticated registry, an act runner."""

import json
import os
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest
import redis
import requests

from harness import (
    REPO_ROOT,
    free_port,
    port_open,
    redis_server_process,
    require,
    require_command,
    run,
    stop_process,
    wait_until,
)
from projects import bake, make_venv

ACTION_REF = "org/tracker-ci@v1"

VARIANTS = {
    "ruff": {},
    "black-isort-flake8": {"style_gate": "black-isort-flake8", "project_name": "Visit Counter"},
}


@pytest.fixture(scope="session", params=sorted(VARIANTS))
def installed_project(request, cookies_session, tmp_path_factory):
    """(project folder, venv python) for each style-gate variant, baked and installed once per session."""
    project = bake(cookies_session, **VARIANTS[request.param])
    python = make_venv(project, tmp_path_factory.mktemp("venv"))
    return project, python


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory):
    """A real redis-server on a free loopback port in its own temp dir; yields its URL."""
    with redis_server_process(tmp_path_factory.mktemp("redis")) as url:
        assert redis.Redis.from_url(url).ping()
        yield url


@pytest.fixture(scope="session")
def docker_engine():
    """Asserts a Docker engine answers (a failure under CI=true, a skip elsewhere)."""
    require_command("docker")
    info = run(["docker", "info", "--format", "{{json .ServerVersion}}"], check=False)
    require(info.returncode == 0, f"no Docker engine answers `docker info`: {info.stderr.strip()[:300]}")
    compose = run(["docker", "compose", "version", "--short"], check=False)
    require(compose.returncode == 0, "`docker compose` (v2) is not available (run scripts/bootstrap.sh)")
    return json.loads(info.stdout)


@dataclass(frozen=True)
class Registry:
    host: str
    username: str
    password: str

    @property
    def url(self) -> str:
        return f"http://{self.host}"

    def tags(self, repository: str) -> list[str]:
        response = requests.get(
            f"{self.url}/v2/{repository}/tags/list", auth=(self.username, self.password), timeout=10
        )
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return sorted(response.json().get("tags") or [])

    def manifest_digest(self, repository: str, tag: str) -> str:
        response = requests.head(
            f"{self.url}/v2/{repository}/manifests/{tag}",
            auth=(self.username, self.password),
            headers={"Accept": "application/vnd.docker.distribution.manifest.v2+json"},
            timeout=10,
        )
        response.raise_for_status()
        return response.headers["Docker-Content-Digest"]


@pytest.fixture(scope="session")
def local_registry(tmp_path_factory, docker_engine):  # pylint: disable=unused-argument
    """Debian's docker-registry on a free loopback port with htpasswd (bcrypt) auth and temp storage."""
    server = require_command("docker-registry")
    workdir = tmp_path_factory.mktemp("registry")
    username, password = "tracker", secrets.token_urlsafe(16)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    (workdir / "htpasswd").write_text(f"{username}:{hashed}\n", encoding="utf-8")
    port = free_port()
    config = workdir / "config.yml"
    config.write_text(
        f"""version: 0.1
log: {{level: warn}}
storage:
  filesystem: {{rootdirectory: {workdir / "storage"}}}
  delete: {{enabled: true}}
http:
  addr: 127.0.0.1:{port}
auth:
  htpasswd: {{realm: tracker-ci, path: {workdir / "htpasswd"}}}
""",
        encoding="utf-8",
    )
    log_file = (workdir / "registry.log").open("w", encoding="utf-8")
    process = subprocess.Popen(  # pylint: disable=consider-using-with
        [server, "serve", str(config)], stdout=log_file, stderr=subprocess.STDOUT
    )
    registry = Registry(f"127.0.0.1:{port}", username, password)
    try:
        wait_until(lambda: port_open(port), timeout=15, what=f"docker-registry on port {port}")
        yield registry
    finally:
        stop_process(process)
        log_file.close()


@pytest.fixture
def docker_config(tmp_path, docker_engine):  # pylint: disable=unused-argument
    """A private DOCKER_CONFIG for one test, so logins never touch the user's own credentials."""
    config_dir = tmp_path / "docker-config"
    plugins = config_dir / "cli-plugins"
    plugins.mkdir(parents=True)
    compose = run(["docker", "info", "--format", "{{range .ClientInfo.Plugins}}{{.Path}} {{end}}"]).stdout.split()
    for plugin in compose:
        (plugins / Path(plugin).name).symlink_to(plugin)
    return {**os.environ, "DOCKER_CONFIG": str(config_dir)}


@dataclass(frozen=True)
class ActResult:
    exit_code: int
    log: str


class ActRunner:
    """Runs a workflow of a git repository with act on this host, `org/tracker-ci@v1` mapped to this repo."""

    def __init__(self, workdir: Path):
        self.act = require_command("act")
        self.workdir = workdir

    def run(  # pylint: disable=too-many-arguments
        self, repo: Path, event: str, *, payload=None, secrets_=None, variables=None, workflow=None, env=None
    ) -> ActResult:
        files = self.workdir / f"act-{secrets.token_hex(4)}"
        files.mkdir()
        (files / "event.json").write_text(json.dumps(payload or {}), encoding="utf-8")
        # Secrets go through a file: a command line is visible to every process on the machine.
        (files / "secrets.env").write_text(_dotenv(secrets_ or {}), encoding="utf-8")
        (files / "vars.env").write_text(_dotenv(variables or {}), encoding="utf-8")
        args = [
            self.act, event,
            "-P", "ubuntu-latest=-self-hosted",
            "--local-repository", f"{ACTION_REF}={REPO_ROOT}",
            "-e", files / "event.json",
            "--secret-file", files / "secrets.env",
            "--var-file", files / "vars.env",
        ]  # fmt: skip
        if workflow:
            args += ["-W", workflow]
        result = run(args, check=False, cwd=repo, stdin=subprocess.DEVNULL, timeout=1500, env=env)
        return ActResult(result.returncode, result.stdout + result.stderr)


def _dotenv(values: dict) -> str:
    return "".join(f"{name}={json.dumps(value)}\n" for name, value in values.items())


@pytest.fixture
def act_runner(tmp_path, docker_engine):  # pylint: disable=unused-argument
    return ActRunner(tmp_path)
