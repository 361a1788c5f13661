"""A baked project's own tests and gates, run in a venv as its README says, against real Redis and gunicorn."""

import os

import pytest

from harness import run
from projects import gate_commands, gunicorn_server

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
    assert "2 passed" in result.stdout


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
