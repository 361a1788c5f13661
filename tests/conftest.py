"""Fixtures that give tests real parts: Redis, the Docker engine, an authenticated registry, an act runner."""

import json
import os
import secrets
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import bcrypt
import pytest
import redis
import requests

from testkit.harness import (
    CACHE_DIR,
    HOSTS_FILE,
    REPO_ROOT,
    hosts_entry,
    port_open,
    redis_server_process,
    require,
    require_command,
    run,
    stop_process,
    wait_until,
)
from testkit.projects import bake, make_venv
from testkit.template import COOKIECUTTER_JSON

ACTION_REF = COOKIECUTTER_JSON["tracker_ci_action"]
LOGIN_ACTION = COOKIECUTTER_JSON["_github_actions"]["docker/login-action"]
# What act runs in place of actions it would download: this repository for the default tracker-ci
# reference, the suite's stand-in for the pinned docker/login-action.
LOCAL_ACTIONS = {
    ACTION_REF: REPO_ROOT,
    f"docker/login-action@{LOGIN_ACTION['commit']}": REPO_ROOT / "tests" / "stand_ins" / "login-action",
}

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


# Manifest types a registry may store for a pushed image; the digest is the one of whichever it holds.
MANIFEST_TYPES = (
    "application/vnd.docker.distribution.manifest.v2+json, "
    "application/vnd.docker.distribution.manifest.list.v2+json, "
    "application/vnd.oci.image.manifest.v1+json, "
    "application/vnd.oci.image.index.v1+json"
)


@dataclass(frozen=True)
class Registry:
    """One registry host as users name it (docker.io, ghcr.io), and how the tests read it back."""

    host: str
    api: str
    username: str
    password: str
    ca: Path

    def _request(self, method: str, path: str, **kwargs) -> requests.Response:
        auth = (self.username, self.password)
        return requests.request(method, f"{self.api}/v2/{path}", auth=auth, verify=self.ca, timeout=10, **kwargs)

    def tags(self, repository: str) -> list[str]:
        response = self._request("GET", f"{repository}/tags/list")
        if response.status_code == 404:
            return []
        response.raise_for_status()
        return sorted(response.json().get("tags") or [])

    def manifest_digest(self, repository: str, tag: str) -> str:
        response = self._request("HEAD", f"{repository}/manifests/{tag}", headers={"Accept": MANIFEST_TYPES})
        response.raise_for_status()
        return response.headers["Docker-Content-Digest"]


@dataclass(frozen=True)
class StandInHub:
    """Docker Hub and GHCR as the engine reaches them, served by one registry on this machine."""

    docker_hub: Registry
    ghcr: Registry

    def registry(self, host: str) -> Registry:
        return {"docker.io": self.docker_hub, "ghcr.io": self.ghcr}[host]


# The registries' real API hosts; docker.io's images live on registry-1.docker.io, its logins on
# index.docker.io. The hosts entry points them all at the stand-in.
HUB_HOSTS = ["registry-1.docker.io", "index.docker.io", "ghcr.io"]
HUB_PORT = 443


@pytest.fixture(scope="session")
def stand_in_hub(tmp_path_factory, docker_engine):  # pylint: disable=unused-argument
    """Debian's docker-registry on 127.0.0.1:443 with TLS (the bootstrap's test CA) and htpasswd auth,
    answering as Docker Hub and GHCR through a hosts entry that is always removed afterwards.

    Where it still differs from the real ones: Docker Hub and GHCR hand out bearer tokens from a separate
    token service, this one takes basic auth on every request; one storage serves both hosts (tests use
    namespaces of their own); and only an engine started with the bootstrap's CA bundle trusts it."""
    server = require_command("docker-registry")
    ca_dir = CACHE_DIR / "test-ca"
    require((ca_dir / "hub.crt").is_file(), f"no test CA in {ca_dir} (run scripts/bootstrap.sh)")
    require(os.access(HOSTS_FILE, os.W_OK), f"{HOSTS_FILE} is not writable: the stand-in hub needs a hosts entry")
    require(not port_open(HUB_PORT), f"port {HUB_PORT} on 127.0.0.1 is taken: the stand-in hub needs it")
    workdir = tmp_path_factory.mktemp("hub")
    # A random user: act masks secret values in its log, and a word like "tracker" would mask "tracker-ci".
    username, password = f"user{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=5)).decode()
    (workdir / "htpasswd").write_text(f"{username}:{hashed}\n", encoding="utf-8")
    config = workdir / "config.yml"
    config.write_text(
        f"""version: 0.1
log: {{level: warn}}
storage:
  filesystem: {{rootdirectory: {workdir / "storage"}}}
  delete: {{enabled: true}}
http:
  addr: 127.0.0.1:{HUB_PORT}
  tls: {{certificate: {ca_dir / "hub.crt"}, key: {ca_dir / "hub.key"}}}
auth:
  htpasswd: {{realm: tracker-ci, path: {workdir / "htpasswd"}}}
""",
        encoding="utf-8",
    )
    log_file = (workdir / "registry.log").open("w", encoding="utf-8")
    process = subprocess.Popen(  # pylint: disable=consider-using-with
        [server, "serve", str(config)], stdout=log_file, stderr=subprocess.STDOUT
    )
    ca = ca_dir / "ca.crt"
    hub = StandInHub(
        docker_hub=Registry("docker.io", "https://registry-1.docker.io", username, password, ca),
        ghcr=Registry("ghcr.io", "https://ghcr.io", username, password, ca),
    )
    try:
        with hosts_entry("127.0.0.1", HUB_HOSTS):
            wait_until(lambda: port_open(HUB_PORT), timeout=15, what=f"docker-registry on port {HUB_PORT}")
            _require_engine_trusts(hub.docker_hub, workdir / "docker-config")
            yield hub
    finally:
        stop_process(process)
        log_file.close()


def _require_engine_trusts(registry: Registry, config_dir: Path) -> None:
    """Logs in once as a user would; an engine that does not trust the test CA is named as the cause."""
    env = {**os.environ, "DOCKER_CONFIG": str(config_dir)}
    login = ["docker", "login", registry.host, "--username", registry.username, "--password-stdin"]
    for _ in range(20):  # the engine re-reads /etc/hosts within a few seconds of a change
        result = run(login, input=registry.password, env=env, check=False)
        if result.returncode == 0:
            return
        time.sleep(1)
    require(
        "x509" not in result.stderr and "certificate" not in result.stderr,
        "the Docker engine does not trust the stand-in hub's test CA: start dockerd with "
        f"SSL_CERT_FILE={CACHE_DIR / 'test-ca' / 'bundle.crt'} (scripts/bootstrap.sh does when it starts one)",
    )
    raise AssertionError(f"docker login {registry.host} to the stand-in hub failed: {result.stderr.strip()}")


@pytest.fixture
def tiny_image(tmp_path, docker_engine):  # pylint: disable=unused-argument
    """A one-file image built for the test; removed afterwards."""
    context = tmp_path / "tiny"
    context.mkdir()
    (context / "token.txt").write_text(secrets.token_hex(8), encoding="utf-8")
    (context / "Dockerfile").write_text("FROM scratch\nCOPY token.txt /\n", encoding="utf-8")
    tag = f"tracker-ci-harness-tiny:{secrets.token_hex(4)}"
    run(["docker", "build", "--quiet", "-t", tag, str(context)])
    yield tag
    run(["docker", "rmi", "-f", tag], check=False)


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
    """Runs a workflow of a git repository with act on this host, actions mapped by LOCAL_ACTIONS."""

    def __init__(self, workdir: Path):
        self.act = require_command("act")
        self.workdir = workdir

    def run(  # pylint: disable=too-many-arguments
        self,
        repo: Path,
        event: str,
        *,
        payload=None,
        secrets_=None,
        variables=None,
        workflow=None,
        env=None,
        actor=None,
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
            "-e", files / "event.json",
            "--secret-file", files / "secrets.env",
            "--var-file", files / "vars.env",
        ]  # fmt: skip
        for reference, folder in LOCAL_ACTIONS.items():
            args += ["--local-repository", f"{reference}={folder}"]
        if actor:
            args += ["--actor", actor]
        if workflow:
            args += ["-W", workflow]
        result = run(args, check=False, cwd=repo, stdin=subprocess.DEVNULL, timeout=1500, env=env)
        return ActResult(result.returncode, result.stdout + result.stderr)


def _dotenv(values: dict) -> str:
    return "".join(f"{name}={json.dumps(value)}\n" for name, value in values.items())


@pytest.fixture
def act_runner(tmp_path, docker_engine):  # pylint: disable=unused-argument
    return ActRunner(tmp_path)
