"""A baked project run with Docker Compose: its lifecycle, and what a run leaves behind."""

import os
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests

from testkit.harness import free_port, run
from testkit.projects import bake


def compose_leftovers(project_name: str) -> list[str]:
    """Containers, networks and volumes a Compose project left behind."""
    label = f"label=com.docker.compose.project={project_name}"
    return [
        *run(["docker", "ps", "-aq", "--filter", label]).stdout.split(),
        *run(["docker", "network", "ls", "-q", "--filter", label]).stdout.split(),
        *run(["docker", "volume", "ls", "-q", "--filter", label]).stdout.split(),
    ]


# redis-cli in a Redis container of the project, logged in as the default user, as the generated README tells an
# operator: from the password Redis made at its start, which stays inside the container. Its arguments follow.
_OPERATOR_LOGIN = 'REDISCLI_AUTH="$(cat /tmp/redis-admin-password)" exec redis-cli "$@"'
REDIS_CLI_AS_OPERATOR = ("sh", "-c", _OPERATOR_LOGIN, "redis-cli")


# Commands an intruder in the app would reach for: the app's Redis login (`web`) may run none of them.
BEYOND_THE_APP = ("CONFIG GET appendfsync", "CONFIG SET appendfsync no", "FLUSHALL", "KEYS *", "ACL LIST")
# The reads the project's tests make through the app's login: Compose allows them, the stack does not.
THE_TESTS_READS = ("GET page_views", "CLIENT LIST")


def refused_to_the_app(package: str, *commands: str) -> tuple[str, ...]:
    """A command for a web container: the app's own Redis client (its login) tries each command, and prints, one a
    line, those Redis refused it (NOPERM)."""
    program = (
        "import sys\n"
        f"from {package}.app import redis\n"
        "from redis.exceptions import NoPermissionError\n"
        "for command in sys.argv[1:]:\n"
        "    try:\n"
        "        redis().execute_command(*command.split())\n"
        "    except NoPermissionError:\n"
        "        print(command)\n"
    )
    return ("python", "-c", program, *commands)


@dataclass
class ComposeProject:
    path: Path
    name: str
    web_port: int

    @property
    def env(self) -> dict:
        return {**os.environ, "COMPOSE_PROJECT_NAME": self.name, "WEB_PORT": str(self.web_port)}

    def compose(self, *args, check=True, timeout=900):
        return run(["docker", "compose", *args], cwd=self.path, env=self.env, check=check, timeout=timeout)

    def get(self, path="/") -> requests.Response:
        return requests.get(f"http://127.0.0.1:{self.web_port}{path}", timeout=5)

    def redis_cli(self, *args, check=True):
        """redis-cli in the Redis container, logged in as an operator (REDIS_CLI_AS_OPERATOR)."""
        return self.compose("exec", "-T", "redis-service", *REDIS_CLI_AS_OPERATOR, *args, check=check)

    @property
    def password(self) -> str:
        return (self.path / "secrets" / "redis-password").read_text(encoding="utf-8")

    def tear_down(self):
        self.compose("--profile", "testing", "down", "--volumes", "--remove-orphans", check=False)


@contextmanager
def built_compose_project(cookies, name: str, **answers):
    """A baked project whose images (web and test) Compose has built; torn down when the block ends."""
    project = ComposeProject(bake(cookies, **answers), name, free_port())
    project.compose("--profile", "testing", "build")
    try:
        yield project
    finally:
        project.tear_down()


@contextmanager
def fresh_stack(project: ComposeProject):
    """The project's services started fresh (empty volume) and healthy; torn down when the block ends."""
    project.tear_down()
    project.compose("up", "--detach", "--wait", "--wait-timeout", "120")
    try:
        yield project
    finally:
        project.tear_down()
