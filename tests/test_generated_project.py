"""A baked project's own tests and gates, run in a venv as its README says, against real Redis and gunicorn."""

import os
import secrets
import shlex
import shutil
import sys
from pathlib import Path

import pytest
import redis
import requests
import yaml

from testkit.dockerfile import GATE_FINDINGS, break_one_gate, gate_commands, gate_name
from testkit.harness import git_commit, redis_server_process, require_command, run, wait_until
from testkit.serving import gunicorn_server

pytestmark = pytest.mark.venv


def test_should_pass_its_own_builder_gates(installed_project):
    # Given
    project, python = installed_project
    commands = gate_commands(project / "web")
    assert len(commands) >= 4, commands

    # When / Then
    for command in commands:
        assert command[0] == "python"
        run([python, *command[1:]], cwd=project / "web")


def test_should_report_each_gates_finding_with_that_gate_alone(installed_project, tmp_path):
    # Given
    project, python = installed_project
    commands = gate_commands(project / "web")
    style_gate = "black-isort-flake8" if (project / "web" / ".flake8").exists() else "ruff"
    gates = [gate for gate, finding in GATE_FINDINGS.items() if finding.style_gate == style_gate]

    for gate in gates:
        web = tmp_path / gate.replace(" ", "-") / "web"
        shutil.copytree(project / "web", web, ignore=shutil.ignore_patterns("*.egg-info", "__pycache__"))
        break_one_gate(web, gate)

        # When
        failing = _failing_gates(python, commands, web)

        # Then
        assert failing == [gate], f"the {gate} finding tripped {failing}"


def _failing_gates(python, commands, web) -> list[str]:
    """The gates whose commands fail in a copy of a web folder, the copy's own sources first on the path."""
    env = {**os.environ, "PYTHONPATH": str(web / "src")}
    no_cache = {"pytest": ["-p", "no:cacheprovider"]}
    return [
        gate_name(command)
        for command in commands
        if run([python, *command[1:], *no_cache.get(command[2], [])], cwd=web, env=env, check=False).returncode
    ]


def test_should_pass_its_unit_tests(installed_project):
    # Given
    project, python = installed_project

    # When
    result = run([python, "-m", "pytest", "test/unit/", "-q"], cwd=project / "web")

    # Then
    assert " passed" in result.stdout


def test_should_pass_its_integration_tests_against_real_redis(installed_project, redis_server):
    # Given
    project, python = installed_project

    # When: the app reads REDIS_URL, the test's own client --redis-url
    result = run(
        [python, "-m", "pytest", "test/integration/", "-q", "--redis-url", redis_server],
        cwd=project / "web",
        env={**os.environ, "REDIS_URL": redis_server},
    )

    # Then
    assert "3 passed" in result.stdout


def test_should_pass_its_e2e_tests_against_real_gunicorn_and_redis(installed_project, redis_server):
    # Given
    project, python = installed_project

    with gunicorn_server(project, python, redis_server) as flask_url:
        # When
        result = run(
            [python, "-m", "pytest", "test/e2e/", "-q", "--flask-url", flask_url, "--redis-url", redis_server],
            cwd=project / "web",
        )

    # Then
    assert "2 passed" in result.stdout


def test_should_serve_with_a_password_file_that_ends_in_a_newline(installed_project, tmp_path):
    # Given: a Redis that wants a password, and the password file as `echo` or `openssl rand -base64 32 >` writes
    # it when a user rotates it ("write a new one into the file", the generated README): its newline included
    project, python = installed_project
    password = secrets.token_urlsafe(24)
    password_file = tmp_path / "redis-password"
    password_file.write_text(f"{password}\n", encoding="utf-8")
    (tmp_path / "redis").mkdir()

    with (
        redis_server_process(tmp_path / "redis", password=password) as redis_url,
        gunicorn_server(project, python, redis_url, password_file=password_file) as flask_url,
    ):
        # When
        response = requests.get(flask_url, timeout=5)

    # Then
    assert (response.status_code, response.text) == (200, "This page has been seen 1 times.")


def test_should_open_its_redis_connections_before_the_first_request(installed_project, redis_server):
    # Given: the clients Redis has now (other tests' clients may close meanwhile, so compare by ID)
    project, python = installed_project
    client = redis.Redis.from_url(redis_server)
    known = {entry["id"] for entry in client.client_list()}

    expected = len(os.sched_getaffinity(0)) * 2  # gunicorn_config.py: a worker per CPU, two threads each

    def opened() -> list:
        return [entry for entry in client.client_list() if entry["id"] not in known]

    # When: the server has started, every worker booted (the first answers before the others are up)
    with gunicorn_server(project, python, redis_server):
        wait_until(lambda: len(opened()) >= expected, 15, f"{expected} connections to Redis", interval=0.2)
        connections = opened()

    # Then: one per thread of every worker, and no more (its readiness probe reused one it had opened)
    assert len(connections) == expected, connections


# The gates of the builder stage that only check style, which pre-commit runs too.
STYLE_GATES = {"ruff check", "ruff format", "flake8", "isort", "black"}


def test_should_run_the_images_style_gates_before_each_commit(installed_project, tmp_path):
    # Given: a copy in a git repository with its pre-commit hook installed as its README says
    project = tmp_path / installed_project[0].name
    shutil.copytree(installed_project[0], project)
    config = yaml.safe_load((project / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    entries = [shlex.split(hook["entry"]) for repo in config["repos"] for hook in repo["hooks"]]
    style_gates = [command for command in gate_commands(project / "web") if gate_name(command) in STYLE_GATES]
    env = {**os.environ, "PATH": f"{Path(require_command('uv')).parent}{os.pathsep}{os.environ['PATH']}"}
    git_commit(project, "Initial commit")
    run([require_command("pre-commit"), "install"], cwd=project, env=env)
    clean = run([require_command("pre-commit"), "run", "--all-files"], cwd=project, env=env, check=False)

    # When: a change that one style gate reports, committed
    gate = gate_name(style_gates[-1])
    break_one_gate(project / "web", gate)
    run(["git", "add", "-A"], cwd=project)
    commit = run(["git", "-c", "user.name=t", "-c", "user.email=t@example.com", "commit", "-qm", "Style slip"],
                 cwd=project, env=env, check=False)  # fmt: skip

    # Then: the image's own commands, in the lock's versions through uv; the finding stops the commit
    assert [entry[:5] for entry in entries] == [["uv", "run", "--directory", "web", "--locked"]] * len(entries)
    assert [entry[5:] for entry in entries] == style_gates
    assert clean.returncode == 0, clean.stdout
    assert commit.returncode != 0
    assert GATE_FINDINGS[gate].log in commit.stdout + commit.stderr


@pytest.mark.parametrize("installed_project", ["ruff"], indirect=True)
def test_should_install_with_pip_from_the_exported_lock_as_its_readme_says(installed_project, tmp_path):
    # Given: a machine with pip but no uv, and the requirements file that uv exports from the lock (README.md)
    web = installed_project[0] / "web"
    requirements = tmp_path / "requirements.txt"
    run([require_command("uv"), "export", "--quiet", "--no-emit-project", "--output-file", requirements], cwd=web)
    run([sys.executable, "-m", "venv", tmp_path / "venv"])
    pip = [tmp_path / "venv" / "bin" / "python", "-m", "pip", "install", "--quiet"]

    # When
    run([*pip, "--require-hashes", "-r", requirements], timeout=900)
    run([*pip, "--no-deps", "--editable", web], timeout=900)

    # Then: the locked packages, each checked against its hash, and the project's own tests pass
    assert "--hash=sha256:" in requirements.read_text(encoding="utf-8")
    run([tmp_path / "venv" / "bin" / "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "test/unit/"], cwd=web)
