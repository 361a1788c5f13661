"""Wall time of the CI pipeline, ours against the tutorial's, in the same run on the local engine.

ours: the action's own flow (action/test.sh: build, up --wait, e2e tests, teardown) on the default project.
tutorial: its workflow's `docker compose --profile testing up --build --exit-code-from test-service`, then the
same teardown, on its own Dockerfile, Dockerfile.dev and docker-compose.yml (benchmarks/tutorial/) around
the same app and tests (the black-isort-flake8 variant: the tutorial's tools), on the same base images.

Each cold (a fresh project name, so no layer of its dependencies or sources is cached; base images present)
and warm (after a one-line change to app.py); the two projects alternate so drift hits both alike.

Run from the repository root: .venv/bin/python -m benchmarks.pipeline
"""

import secrets
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from benchmarks.common import BENCHMARKS, bake_default, print_table, save
from testkit.harness import REPO_ROOT, run
from testkit.projects import action_test_env, app_source, runtime_base_image

TUTORIAL_FILES = {"Dockerfile": "web/Dockerfile", "Dockerfile.dev": "web/Dockerfile.dev",
                  "docker-compose.yml": "docker-compose.yml"}  # fmt: skip


def timed(flow: Callable[[], None]) -> float:
    started = time.perf_counter()
    flow()
    return time.perf_counter() - started


def ours(project: Path, workdir: Path) -> Callable[[], None]:
    # WEB_PORT=0: any free host port, so a benchmark never collides with a running service.
    env = {**action_test_env(project, project.name, workdir / f"{project.name}.outputs"), "WEB_PORT": "0"}
    return lambda: run([REPO_ROOT / "action" / "test.sh"], env=env, timeout=1800)


def tutorial(project: Path) -> Callable[[], None]:
    compose = ["docker", "compose", "--project-name", project.name, "--profile", "testing"]

    def flow() -> None:
        try:
            run([*compose, "up", "--build", "--exit-code-from", "test-service"], cwd=project, timeout=1800)
        finally:
            run([*compose, "down", "--volumes", "--remove-orphans"], cwd=project)

    return flow


def as_tutorial(project: Path) -> Path:
    """Replaces the baked project's Docker files with the tutorial's, on the project's base images."""
    redis_image = yaml.safe_load((project / "docker-compose.yml").read_text(encoding="utf-8"))["services"][
        "redis-service"
    ]["image"]
    substitutions = {
        "python:3.11.2-slim-bullseye": runtime_base_image(project),
        "redis:7.0.10-bullseye": redis_image,
        "page_tracker": app_source(project).parent.name,
    }
    for source, target in TUTORIAL_FILES.items():
        text = (BENCHMARKS / "tutorial" / source).read_text(encoding="utf-8")
        for old, new in substitutions.items():
            text = text.replace(old, new)
        (project / target).write_text(text, encoding="utf-8")
    return project


def change_one_line(project: Path) -> None:
    app = app_source(project)
    source = app.read_text(encoding="utf-8")
    app.write_text(source.replace('"Redis error"', '"Redis error while counting"'), encoding="utf-8")


def main() -> None:
    suffix = secrets.token_hex(4)
    with tempfile.TemporaryDirectory() as temporary:
        workdir = Path(temporary)
        projects = {
            "ours": bake_default(workdir, project_name=f"bench-ours-{suffix}"),
            "tutorial": as_tutorial(
                bake_default(workdir, project_name=f"bench-tutorial-{suffix}", style_gate="black-isort-flake8")
            ),
        }
        flows = {"ours": ours(projects["ours"], workdir), "tutorial": tutorial(projects["tutorial"])}
        seconds = {name: {} for name in flows}
        try:
            for phase in ("cold", "warm"):
                for name, flow in flows.items():
                    if phase == "warm":
                        change_one_line(projects[name])
                    seconds[name][phase] = round(timed(flow), 1)
        finally:
            for project in projects.values():
                images = run(["docker", "images", "--quiet", "--filter", f"reference={project.name}-*"]).stdout
                run(["docker", "rmi", "--force", *set(images.split())], check=False)
    ratios = {phase: round(seconds["ours"][phase] / seconds["tutorial"][phase], 2) for phase in ("cold", "warm")}
    print_table(
        ["pipeline", "cold s", "warm s"],
        [
            ["ours (action/test.sh)", seconds["ours"]["cold"], seconds["ours"]["warm"]],
            [
                "tutorial (compose up --build --exit-code-from)",
                seconds["tutorial"]["cold"],
                seconds["tutorial"]["warm"],
            ],
            ["ours / tutorial", f"{ratios['cold']:.2f}×", f"{ratios['warm']:.2f}×"],
        ],
    )
    save("pipeline", {"seconds": seconds, "ours_over_tutorial": ratios})


if __name__ == "__main__":
    main()
