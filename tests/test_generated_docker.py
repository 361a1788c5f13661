"""Baked projects on a real Docker engine: images build through their gates, Compose runs the e2e tests,
the published service counts and keeps its count, and a broken test fails the image build."""

import json
import os
import re
import shlex
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import requests

from testkit.compose import ComposeProject, built_compose_project, fresh_stack
from testkit.dockerfile import GATE_FINDINGS, break_one_gate, runtime_base_image, server_command
from testkit.harness import free_port, run, stop_process, wait_until
from testkit.images import image_bytes, remove_images, runtime_image_leftovers
from testkit.projects import app_source, lock_dependencies
from testkit.template import DEFAULT_ANSWERS

pytestmark = pytest.mark.docker

# Every Python version the template offers is built through its gates and passes the documented e2e command, but
# 3.12, which no Debian release ships (the bootstrap cannot make its base image; docs/bootstrap.md, the bootstrap's
# stand-ins). FULL_CHECK_VARIANTS, between them every style gate, registry kind and Redis, get every other check.
VARIANTS = {
    "defaults": {},
    "py315": {"python_version": "3.15"},
    "py313-always": {"python_version": "3.13", "redis_appendfsync": "always"},
    "py311-black-ghcr-redis7": {
        "python_version": "3.11",
        "style_gate": "black-isort-flake8",
        "registry": "ghcr.io",
        "image_namespace": "octo-org",
        "redis_version": "7.4-bookworm",
    },
}


FULL_CHECK_VARIANTS = ["defaults", "py311-black-ghcr-redis7"]
PYTHON_VERSION = "import sys; print('%d.%d' % sys.version_info[:2])"


@pytest.fixture(scope="session", params=FULL_CHECK_VARIANTS)
def built_project(request, cookies_session, docker_engine):  # pylint: disable=unused-argument
    with built_compose_project(
        cookies_session, f"tracker-ci-test-{request.param}", **VARIANTS[request.param]
    ) as project:
        yield project


@pytest.fixture
def running_project(built_project):
    with fresh_stack(built_project) as project:
        yield project


@pytest.mark.parametrize("built_project", sorted(VARIANTS), indirect=True)
def test_should_pass_the_documented_e2e_command_on_the_answered_python_and_redis(
    request, built_project, running_project
):  # pylint: disable=unused-argument
    # When
    result = running_project.compose("--profile", "testing", "run", "--rm", "test-service")

    # Then
    assert "2 passed" in result.stdout
    # ... against a Redis that syncs its append-only file as the project's answer says: the server's own word (the
    # kernel keeps the data under either policy when only the process dies, so no kill test can tell them apart)
    answers = DEFAULT_ANSWERS | VARIANTS[request.node.callspec.params["built_project"]]
    policy = running_project.redis_cli("--raw", "CONFIG", "GET", "appendfsync").stdout.split()
    assert policy == ["appendfsync", answers["redis_appendfsync"]]
    # ... on the Python and the Redis the answers name, as the running containers report them (the stand-in Redis
    # images run their Debian release's Redis, of the tag's major version: docs/bootstrap.md)
    python = running_project.compose("exec", "-T", "web-service", "python", "-c", PYTHON_VERSION).stdout.strip()
    assert python == answers["python_version"]
    server = running_project.redis_cli("--raw", "INFO", "server").stdout
    assert re.search(r"^redis_version:(\d+)\.", server, re.MULTILINE)[1] == answers["redis_version"].split(".")[0]


@pytest.mark.parametrize("built_project", ["defaults"], indirect=True)
def test_should_wait_for_a_slow_web_start_before_the_e2e_tests_with_the_tutorials_command(built_project, tmp_path):
    # Given: a cold start in which the web server takes seconds to listen (an override delays its command), so
    # e2e tests started before it is healthy fail: the tutorial's race
    slow_web = tmp_path / "slow-web.yml"
    command = ["sh", "-c", f"sleep 6 && exec {shlex.join(server_command(built_project.path, '0.0.0.0:8000'))}"]
    slow_web.write_text(json.dumps({"services": {"web-service": {"command": command}}}), encoding="utf-8")
    built_project.tear_down()
    files = ["--file", "docker-compose.yml", "--file", slow_web]

    # When: the tutorial's command, which starts every service at once
    try:
        result = built_project.compose(*files, "--profile", "testing", "up", "--exit-code-from", "test-service",
                                       check=False)  # fmt: skip
    finally:
        built_project.tear_down()

    # Then
    assert result.returncode == 0 and "2 passed" in result.stdout, result.stdout[-3000:]


def test_should_get_every_service_healthy(running_project):
    # When
    listing = running_project.compose("ps", "--format", "json").stdout

    # Then
    services = [json.loads(line) for line in listing.splitlines() if line.strip()]
    assert {service["Service"]: service["Health"] for service in services} == {
        "redis-service": "healthy",
        "web-service": "healthy",
    }


def test_should_count_views_and_keep_the_count_across_restarts(running_project):
    # When: two views; then, once the last write is over two seconds old (what appendfsync everysec may lose), the
    # stack killed (no snapshot on the way out: only the append-only file keeps the count) and its containers
    # removed (only the volume keeps the file)
    first, second = running_project.get(), running_project.get()
    time.sleep(2.5)
    running_project.compose("kill")
    running_project.compose("down")
    running_project.compose("up", "--detach", "--wait", "--wait-timeout", "120")
    third = running_project.get()

    # Then
    assert [first.text, second.text, third.text] == [
        "This page has been seen 1 times.",
        "This page has been seen 2 times.",
        "This page has been seen 3 times.",
    ]
    assert running_project.get("/health").status_code == 200


def test_should_run_the_web_service_as_a_non_root_user(running_project):
    # When
    uid = running_project.compose("exec", "-T", "web-service", "id", "-u").stdout.strip()

    # Then
    assert uid not in ("", "0")


def test_should_serve_with_one_worker_process_per_cpu_it_may_use(running_project):
    # When: gunicorn's processes in the container (the master and its workers), and the CPUs it may use
    probe = (
        "import os; names = [open(f'/proc/{p}/cmdline').read() for p in os.listdir('/proc')"
        " if p.isdigit() and int(p) != os.getpid()]; "
        "print(sum('gunicorn' in n for n in names), len(os.sched_getaffinity(0)))"
    )
    found = running_project.compose("exec", "-T", "web-service", "python", "-c", probe).stdout.split()

    # Then
    gunicorn_processes, cpus = map(int, found)
    assert gunicorn_processes == cpus + 1


@pytest.mark.parametrize(
    ("limits", "workers"),
    [
        pytest.param([], len(os.sched_getaffinity(0)), id="every-cpu"),
        pytest.param(["--cpus=1"], 1, id="a-quota-of-one-cpu"),
        pytest.param(["--cpus=0.5"], 1, id="half-a-cpu"),
        pytest.param(["--cpuset-cpus=0"], 1, id="one-cpu-of-the-set"),
    ],
)
@pytest.mark.parametrize("built_project", ["defaults"], indirect=True)
def test_should_size_the_workers_from_the_cpus_the_container_may_use(built_project, limits, workers):
    # Given: the runtime image run under a CPU quota (docker run --cpus, a stack's cpus) or a CPU set
    image = f"{built_project.name}-web-service"
    package = app_source(built_project.path).parent.name

    # When: the worker count its gunicorn settings give
    probe = f"from {package} import gunicorn_config; print(gunicorn_config.workers)"
    found = run(["docker", "run", "--rm", *limits, image, "python", "-c", probe]).stdout.strip()

    # Then: one per CPU it may use, never more than its quota (rounded up)
    assert int(found) == workers


def test_should_keep_the_runtime_image_small_and_free_of_build_leftovers(built_project):
    # Given
    image = f"{built_project.name}-web-service"
    base = runtime_base_image(built_project.path)

    # When
    added = image_bytes(image) - image_bytes(base)
    found = runtime_image_leftovers(image)

    # Then: a tenth of what the tutorial's runtime image adds (164 MB)
    assert added <= 15_000_000, f"runtime image adds {added / 1e6:.1f} MB over {base}"
    assert found == []


def test_should_not_let_the_app_user_change_its_code_or_dependencies(built_project):
    # Given: the runtime image run as it is, by its own user, even without Compose's read-only root filesystem
    image = f"{built_project.name}-web-service"

    # When: what of the venv (the dependencies and the gated package) that user may write to; uv's empty lock
    # files, which it makes writable by everyone, hold no code
    writable = run(["docker", "run", "--rm", image, "find", "/home/app/.venv", "-writable", "!", "-name", ".lock"])

    # Then
    assert writable.stdout.split() == []


# The build of each gate's finding, in a variant whose builder stage runs that gate.
GATE_BUILDS = [
    pytest.param("defaults" if finding.style_gate == "ruff" else "py311-black-ghcr-redis7", gate, id=gate)
    for gate, finding in GATE_FINDINGS.items()
]


@pytest.mark.parametrize(("built_project", "gate"), GATE_BUILDS, indirect=["built_project"])
def test_should_fail_the_image_build_when_any_one_gate_fails(built_project, tmp_path, gate):
    # Given: a finding that only this gate reports (test_generated_project.py proves it in a venv)
    broken = tmp_path / built_project.path.name
    shutil.copytree(built_project.path, broken)
    break_one_gate(broken / "web", gate)

    # When
    result = run(["docker", "build", "--target", "builder", broken / "web"], check=False)

    # Then
    assert result.returncode != 0, f"the image built although {gate} reports a finding"
    assert GATE_FINDINGS[gate].log in result.stdout + result.stderr


@pytest.mark.parametrize("built_project", ["defaults"], indirect=True)
def test_should_install_a_console_script_and_package_data_the_user_adds(built_project, tmp_path):
    # Given: a command of the user's own, declared in pyproject.toml, that prints a data file of the package
    project = tmp_path / built_project.path.name
    shutil.copytree(built_project.path, project)
    package = app_source(project).parent
    (package / "greeting.txt").write_text("Hello from a data file\n", encoding="utf-8")
    (package / "greet.py").write_text(
        "from importlib.resources import files\n\n\n"
        "def main() -> None:\n"
        '    text = files(__package__).joinpath("greeting.txt").read_text(encoding="utf-8")\n'
        "    print(text.strip())\n",
        encoding="utf-8",
    )
    pyproject = project / "web" / "pyproject.toml"
    script = f"{project.name}-greet"
    entry = f'\n[project.scripts]\n{script} = "{package.name}.greet:main"\n'
    pyproject.write_text(
        pyproject.read_text(encoding="utf-8").replace("\n[dependency-groups]", entry + "\n[dependency-groups]")
    )
    lock_dependencies(project)
    image = f"{built_project.name}-with-script"

    # When
    run(["docker", "build", "--quiet", "--tag", image, project / "web"], timeout=900)
    try:
        result = run(["docker", "run", "--rm", image, script], check=False)
    finally:
        remove_images(image)

    # Then
    assert (result.returncode, result.stdout.strip()) == (0, "Hello from a data file"), result.stderr


def _page_text(url: str, watch: subprocess.Popen, watch_log: Path) -> str:
    """The page at url, empty while nothing answers; fails once `docker compose watch` has ended, with its log's end."""
    assert watch.poll() is None, f"docker compose watch ended with exit code {watch.returncode}:\n" + "\n".join(
        watch_log.read_text(encoding="utf-8", errors="replace").splitlines()[-30:]
    )
    try:
        return requests.get(url, timeout=2).text
    except requests.ConnectionError:
        return ""


@pytest.mark.parametrize("built_project", ["defaults"], indirect=True)
def test_should_serve_a_code_change_under_compose_watch_without_a_rebuild(built_project, tmp_path):
    # Given: the README's dev loop (a copy of the project, so the session's project keeps its code)
    project = ComposeProject(tmp_path / built_project.path.name, f"{built_project.name}-watch", free_port())
    shutil.copytree(built_project.path, project.path)
    dev_url, env = f"http://127.0.0.1:{free_port()}/", project.env
    env["DEV_PORT"] = dev_url.rsplit(":", 1)[1].strip("/")
    watch_log = tmp_path / "watch.log"
    with watch_log.open("w", encoding="utf-8") as log:
        watch = subprocess.Popen(  # pylint: disable=consider-using-with
            ["docker", "compose", "--profile", "dev", "watch", "web-dev"], cwd=project.path, env=env,
            stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
    try:
        wait_until(
            lambda: "has been seen" in _page_text(dev_url, watch, watch_log), timeout=600, what="web-dev to serve"
        )
        container = project.compose("--profile", "dev", "ps", "--quiet", "web-dev").stdout.strip()
        app = app_source(project.path)

        # When
        app.write_text(app.read_text(encoding="utf-8").replace("has been seen", "was seen"), encoding="utf-8")

        # Then: served by the same container, reloaded, not rebuilt
        wait_until(
            lambda: "was seen" in _page_text(dev_url, watch, watch_log), timeout=60, what="the change to be served"
        )
        assert project.compose("--profile", "dev", "ps", "--quiet", "web-dev").stdout.strip() == container
    finally:
        stop_process(watch)
        project.compose("--profile", "dev", "down", "--volumes", "--remove-orphans", check=False)


@pytest.mark.parametrize("built_project", ["defaults"], indirect=True)
def test_should_fail_the_image_build_when_the_lock_does_not_match_pyproject(built_project, tmp_path):
    # Given: a dependency added to pyproject.toml by hand, without `uv lock`
    web = tmp_path / built_project.path.name / "web"
    shutil.copytree(built_project.path / "web", web)
    pyproject = web / "pyproject.toml"
    pyproject.write_text(pyproject.read_text(encoding="utf-8").replace('    "redis', '    "itsdangerous",\n    "redis'))

    # When
    result = run(["docker", "build", "--target", "builder", web], check=False, timeout=900)

    # Then: the build installs exactly the lock, or nothing
    assert result.returncode != 0
    assert "needs to be updated, but `--locked` was provided" in result.stdout + result.stderr
