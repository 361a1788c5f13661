"""A baked project with deploy: swarm on the test swarm: its web image, the docker.io images its stack names, its
deploy/ run on the manager as an operator runs it, and the edge that serves it."""

import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import requests

from testkit.harness import run, wait_until
from testkit.swarm import Node, Swarm
from testkit.template import derived


def wait_for_the_edge(swarm: Swarm, timeout: float = 60) -> None:
    """Waits until every node's proxy has a healthy web task: a converged deploy is not yet an edge that
    serves, since HAProxy finds new tasks through DNS and its own health checks a second or two later."""

    def serves(node: Node) -> bool:
        try:
            return requests.get(f"http://{node.address}:80/health", timeout=2).status_code == 200
        except requests.RequestException:
            return False

    wait_until(lambda: all(serves(node) for node in swarm.nodes), timeout, "every node's proxy to serve", 0.3)


def build_web_image(project: Path, name: str) -> str:
    """Builds a baked project's runtime image with Compose under the project name `name`; returns its tag."""
    run(["docker", "compose", "build", "web-service"], cwd=project, env={**os.environ, "COMPOSE_PROJECT_NAME": name},
        timeout=900)  # fmt: skip
    return f"{name}-web-service"


def base_images(**answers) -> list[str]:
    """The docker.io images a project's stack names besides its own (Redis, HAProxy)."""
    return [derived("__redis_image", **answers), derived("__proxy_image", **answers)]


@dataclass
class SwarmProject:
    """A baked project whose deploy/ runs on the swarm's manager, as an operator runs it there."""

    swarm: Swarm
    path: Path
    remote: str = "/srv/project"

    def upload(self) -> None:
        self.swarm.manager.shell(f"rm -rf {self.remote} && mkdir -p {self.remote}")
        run(["docker", "cp", f"{self.path}/.", f"{self.swarm.manager.name}:{self.remote}"])

    def deploy(self, image: str, check=True, timeout=600, **env) -> subprocess.CompletedProcess:
        settings = [item for name, value in env.items() for item in ("--env", f"{name}={value}")]
        return run(
            ["docker", "exec", *settings, self.swarm.manager.name, "bash", f"{self.remote}/deploy/deploy.sh", image],
            check=check,
            timeout=timeout,
        )

    def url(self, node: Node, path: str = "/") -> str:
        return f"http://{node.address}:80{path}"
