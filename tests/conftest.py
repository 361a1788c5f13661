"""Fixtures that give tests real parts: Redis, the Docker engine, an authenticated registry, a swarm, an act
runner."""

import contextlib
import json
import os
import secrets
import shutil
import tempfile
from pathlib import Path

import pytest
import redis
from xdist.scheduler import LoadScopeScheduling

from testkit import hub
from testkit.act import ActRunner
from testkit.harness import REPO_ROOT, engine_image_store, redis_server_process, require, require_command, run
from testkit.projects import bake, make_venv, unique_name
from testkit.swarm import NODE_IMAGE, node_image_present, swarm_of
from testkit.tiers import EMULATED_WORKER, SHARED_FIXTURE_UNITS

VARIANTS = {
    "ruff": {},
    "black-isort-flake8": {"style_gate": "black-isort-flake8", "project_name": "Visit Counter"},
}


@pytest.fixture(scope="session", autouse=True)
def uv_on_the_path(tmp_path_factory):
    """The suite's uv, alone, first on the PATH: a user who generates with `uvx cookiecutter` has uv, and the
    post-generation hook locks each baked project with it."""
    folder = tmp_path_factory.mktemp("uv-on-the-path")
    (folder / "uv").symlink_to(require_command("uv"))
    path = os.environ["PATH"]
    os.environ["PATH"] = f"{folder}{os.pathsep}{path}"
    yield
    os.environ["PATH"] = path


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
    """Asserts a Docker engine answers (a failure under CI=true, a skip elsewhere), with the image store that
    TRACKER_CI_IMAGE_STORE asks for (`make test` runs the suite on each); returns the engine's version."""
    require_command("docker")
    info = run(["docker", "info", "--format", "{{json .ServerVersion}}"], check=False)
    require(info.returncode == 0, f"no Docker engine answers `docker info`: {info.stderr.strip()[:300]}")
    compose = run(["docker", "compose", "version", "--short"], check=False)
    require(compose.returncode == 0, "`docker compose` (v2) is not available (run scripts/bootstrap.sh)")
    wanted_store = os.environ.get("TRACKER_CI_IMAGE_STORE")
    store = engine_image_store()
    require(wanted_store in (None, store), f"the engine has the {store} image store, not {wanted_store}")
    return json.loads(info.stdout)


@pytest.fixture(scope="session")
def swarm(tmp_path_factory, stand_in_hub):
    """One three-node Docker Swarm per session (testkit.swarm), its manager the first node, pulling docker.io
    images through the stand-in Docker Hub's storage."""
    require(node_image_present(), f"the swarm node image {NODE_IMAGE} is missing (run scripts/bootstrap.sh)")
    name, workdir = unique_name("tracker-ci-swarm"), tmp_path_factory.mktemp("swarm")
    with swarm_of(3, name, workdir, stand_in_hub.storage) as cluster:
        yield cluster


# The stand-in hub answers on port 443 of this machine, so a run whose tests are spread over pytest-xdist's workers
# has one for them all, started by the controller: `make test` runs the engine and act tiers side by side so.
SHARED_HUB = pytest.StashKey[hub.StandInHub]()
# The side-by-side pass's unit of the tests that build arm64 under QEMU.
EMULATED = "emulated"


def pytest_addoption(parser):
    parser.addoption("--shared-hub", action="store_true", help="one stand-in hub for every pytest-xdist worker")


def pytest_configure(config):
    if config.getoption("shared_hub") and not hasattr(config, "workerinput"):
        stack = contextlib.ExitStack()
        config.add_cleanup(stack.close)
        folder = Path(tempfile.mkdtemp(prefix="tracker-ci-hub-"))
        stack.callback(shutil.rmtree, folder, ignore_errors=True)
        config.stash[SHARED_HUB] = stack.enter_context(hub.stand_in_hub(folder))


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node):
    """pytest-xdist's hook, in the controller, for each worker it starts: hands it the shared hub."""
    if SHARED_HUB in node.config.stash:
        node.workerinput["tracker_ci_hub"] = node.config.stash[SHARED_HUB].to_json()


class TierScheduling(LoadScopeScheduling):
    """With --shared-hub, pytest-xdist's scheduling of the engine and act tiers side by side: the emulated builds
    (testkit.tiers.EMULATED_WORKER) on the last worker; every other test in units of its module (or
    of testkit.tiers.SHARED_FIXTURE_UNITS), the largest first, each to the first worker to run out of work, so that
    both end about together whether the arm64 build is cold or cached. (A scheduler of its own: --dist loadgroup's
    xdist_group marks are lost on pytest 9.2, whose node IDs pytest-xdist 3.8 can no longer suffix.)"""

    def _split_scope(self, nodeid: str) -> str:
        if nodeid.startswith(EMULATED_WORKER):
            return EMULATED
        module = nodeid.split("::", 1)[0]
        return SHARED_FIXTURE_UNITS.get(module, module)

    def _reschedule(self, node) -> None:
        # A new unit only once the worker holds its last test (it runs a test when it knows the next, or that none
        # follows): LoadScopeScheduling's own rule, two tests left, would queue a unit behind the emulated worker's
        # long tests while the other worker could run it at once.
        if self.workqueue and self._pending_of(self.assigned_work[node]) > 1:
            return
        super()._reschedule(node)

    def _assign_work_unit(self, node) -> None:
        # LoadScopeScheduling gives the unit at the head of its queue: put there the one this worker should run. The
        # emulated worker, holding its last emulated test, gets the smallest unit (it cannot start that test without
        # one); every other request, the largest (by its number of tests) that is left.
        sizes = {scope: len(tests) for scope, tests in self.workqueue.items()}
        others = set(sizes) - {EMULATED}
        if EMULATED in sizes and (node is self.nodes[-1] or not others):
            chosen = EMULATED
        elif not all(self.assigned_work[node].get(EMULATED, {}).values()):
            chosen = min(others, key=sizes.get)
        else:
            chosen = max(others, key=sizes.get)
        self.workqueue.move_to_end(chosen, last=False)
        super()._assign_work_unit(node)


@pytest.hookimpl(tryfirst=True, optionalhook=True)
def pytest_xdist_make_scheduler(config, log):
    return TierScheduling(config, log) if config.getoption("shared_hub") else None


@pytest.fixture(scope="session")
def stand_in_hub(request, tmp_path_factory, docker_engine):  # pylint: disable=unused-argument
    """One stand-in Docker Hub and GHCR per session (testkit.hub), or the controller's with --shared-hub."""
    if SHARED_HUB in request.config.stash:  # the controller's own, without workers
        yield request.config.stash[SHARED_HUB]
        return
    if shared := getattr(request.config, "workerinput", {}).get("tracker_ci_hub"):
        yield hub.StandInHub.from_json(shared)
        return
    with hub.stand_in_hub(tmp_path_factory.mktemp("hub")) as stand_in:
        yield stand_in


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
    link = 'source "$1" && link_cli_plugins "$2"'  # the action's own helper (login.sh's config gets them alike)
    run(["bash", "-c", link, "link_cli_plugins", REPO_ROOT / "action" / "lib.sh", config_dir])
    return {**os.environ, "DOCKER_CONFIG": str(config_dir)}


@pytest.fixture
def act_runner(tmp_path, docker_engine):  # pylint: disable=unused-argument
    return ActRunner(tmp_path)
