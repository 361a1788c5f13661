"""A baked project's own tests and gates, run in a venv as its README says, against real Redis and gunicorn."""

import os
import shutil

import pytest
import redis

from testkit.harness import run, wait_until
from testkit.projects import GATE_FINDINGS, break_one_gate, gate_commands, gate_name, gunicorn_server

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
