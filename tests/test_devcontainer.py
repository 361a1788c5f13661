"""The generated dev container (.devcontainer/), opened by the Dev Containers CLI as VS Code and Codespaces open
it: Compose's dev service with the locked venv, Redis beside it, the project's tests runnable inside."""

import json
import os

import pytest

from testkit.harness import free_port, require_command, run
from testkit.projects import bake
from testkit.template import derived

pytestmark = pytest.mark.docker


def test_should_open_in_the_dev_service_and_run_the_tests_there(cookies, docker_engine):  # pylint: disable=unused-argument
    # Given: a project as generated, opened by the Dev Containers CLI
    project = bake(cookies)
    devcontainer = require_command("devcontainer")
    compose_project = "tracker-ci-test-devcontainer"
    env = {**os.environ, "COMPOSE_PROJECT_NAME": compose_project, "DEV_PORT": str(free_port())}
    inside = [devcontainer, "exec", "--workspace-folder", project]
    package = derived("__package_name")
    try:
        up = run([devcontainer, "up", "--workspace-folder", project], env=env, timeout=900)
        opened = json.loads(up.stdout.strip().splitlines()[-1])

        # When: the unit and integration tests, as VS Code's test panel runs them (devcontainer.json's pytestArgs,
        # no --redis-url: the tests reach Redis as the app does)
        tests = run([*inside, "python", "-m", "pytest", "-q", "-p", "no:cacheprovider", "web/test/unit",
                     "web/test/integration"], env=env, check=False)  # fmt: skip
        imported = run(
            [*inside, "python", "-c", f"import sys, {package}; print(sys.prefix, {package}.__file__)"], env=env
        )

        # Then: the workspace is the project, the interpreter the locked venv, the code the workspace's own
        assert (opened["outcome"], opened["remoteWorkspaceFolder"]) == ("success", "/workspace"), up.stdout
        assert tests.returncode == 0 and " passed" in tests.stdout, tests.stdout + tests.stderr
        assert imported.stdout.split() == ["/home/app/.venv", f"/workspace/web/src/{package}/__init__.py"]
    finally:
        run(["docker", "compose", "--project-name", compose_project, "down", "--volumes", "--remove-orphans"],
            check=False)  # fmt: skip
