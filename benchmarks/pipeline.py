"""Wall time of the CI pipeline, ours against the tutorial's, in the same run on the local engine.

ours: the action's own flow (action/test.sh: build, up --wait, e2e tests, teardown) on the default project.
ours, both platforms: the same for `platforms: linux/amd64,linux/arm64` (with --platforms; the containerd store
only): the image built for both, arm64 under QEMU user emulation, and the e2e tests run against each.
a job per platform (with --platforms): the template's default, each platform's job on its own (`platforms: <one>`,
`push-by-digest: true`), then the merge action's merge of their digests, timed. Here the arm64 job runs under QEMU;
on a native arm64 runner it is ESTIMATED to take what the amd64 job takes (GitHub's arm64 and amd64 runners are
alike), so the native-runner wall time is an estimate: the amd64 job (the slower of two like jobs) plus the merge.
tutorial: its workflow's `docker compose --profile testing up --build --exit-code-from test-service`, then the
same teardown, on its own Dockerfile, Dockerfile.dev and docker-compose.yml (benchmarks/tutorial/) around
the same app and tests (the black-isort-flake8 variant: the tutorial's tools), on the same base images.

Each cold (an engine emptied of everything but the base images: no build cache, no image of either project),
warm (after a one-line change to app.py) and on a fresh runner (another one-line change, on an engine emptied
again, as on a new GitHub runner; ours finds the warm run's layer cache in the registry); the two projects
alternate so drift hits both alike. Ours runs as the action runs on a push to the default branch, each step given
the environment action.yml gives it (testkit.action.ActionSteps): validate.sh decides, login.sh logs in to the stand-in Docker Hub (testkit.hub), test.sh builds with the layer cache of
validate.sh's build file, push.sh pushes the tested image and the cache after the cold and the warm run, so
the fresh runner finds the previous default-branch build in the registry. The tutorial has no cache to find.

Rounds of all three phases follow each other, each round on projects and an image of its own; the table
gives medians, and the goals are the medians of the ratios taken within each round.

Both pipelines run on an engine of the benchmark's own whose data root is a journaled ext4, as a GitHub runner's
is (testkit/engine.py says why: this VM's disk has no journal, and emptying the engine slowed the next pull
by seconds there); it needs root. By default all rounds run on the containerd image store (Docker 29's default:
GitHub's ubuntu-latest), then on the classic store (ubuntu-24.04's Docker 28).

Run from the repository root:
.venv/bin/python -m benchmarks.pipeline [--rounds 3] [--image-store containerd] [--platforms linux/amd64,linux/arm64]
"""

import argparse
import functools
import os
import re
import secrets
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from benchmarks.common import BENCHMARKS, bake_default, print_table, save
from testkit.action import ACTION_FILE, MERGE_ACTION_FILE, ActionSteps
from testkit.engine import IMAGE_STORES, journaled_engine
from testkit.harness import require_command, run
from testkit.hub import StandInHub, stand_in_hub
from testkit.images import empty_engine_but_base_images, remove_images
from testkit.projects import app_source, change_code_only
from testkit.template import derived

TUTORIAL_FILES = {"Dockerfile": "web/Dockerfile", "Dockerfile.dev": "web/Dockerfile.dev",
                  "docker-compose.yml": "docker-compose.yml"}  # fmt: skip


PHASES = ("cold", "warm", "fresh")

TUTORIAL_BUILD_SYSTEM = 'requires = ["setuptools>=67.0.0", "wheel"]\nbuild-backend = "setuptools.build_meta"'

# The base images of the projects both pipelines run on (default answers), as cookiecutter.json derives them.
PYTHON_IMAGE, REDIS_IMAGE, UV_IMAGE = derived("__python_image"), derived("__redis_image"), derived("__uv_image")


def timed(flow: Callable[[], None]) -> float:
    started = time.perf_counter()
    flow()
    return time.perf_counter() - started


def push_to_the_default_branch() -> dict:
    """The github context of a push to the default branch, a commit of its own, as the action's steps read it."""
    return {"event_name": "push", "ref": "refs/heads/main", "sha": secrets.token_hex(20),
            "event": {"repository": {"default_branch": "main"}}}  # fmt: skip


class Ours:
    """The action's steps, wired as action.yml wires them, for a push to the default branch; only the build and test
    step is timed."""

    def __init__(  # pylint: disable=too-many-arguments
        self, project: Path, workdir: Path, hub: StandInHub, platforms: str = "", *, image: str = "", by_digest=False
    ):
        registry = hub.docker_hub
        # WEB_PORT=0: any free host port, so a benchmark never collides with a running service. The client trusts
        # the stand-in's certificate as a runner trusts the real registry's (buildx reads the registry itself).
        self.runner_env = {**os.environ, **hub.client_env, "RUNNER_TEMP": str(workdir), "WEB_PORT": "0"}
        self.login = {"registry": registry.host, "username": registry.username, "password": registry.password}
        inputs = {**self.login, "working-directory": str(project), "platforms": platforms,
                  "image": image or f"bench{secrets.token_hex(4)}/{project.name}",
                  "push-by-digest": str(by_digest).lower()}  # fmt: skip
        self.steps = ActionSteps(ACTION_FILE, inputs, push_to_the_default_branch(), self.runner_env)
        decided = self.steps.run("validate")
        assert decided["push"] == decided["write-cache"] == "true", decided
        self.steps.run("login")
        self.image = decided["image"]

    def build_and_test(self) -> None:
        self.steps.run("test")

    def publish(self) -> None:
        """What the default branch's run does after its tests: push the image and the layer cache."""
        self.steps.run("push")

    def close(self) -> None:
        self.steps.run("logout")

    @property
    def digest(self) -> str:
        return self.steps.outputs["push"]["digest"]

    @property
    def images(self) -> str:
        """The pushed repository as Docker lists it (Hub names short), for its reference filter."""
        return self.image.removeprefix("docker.io/")


class Tutorial:
    """The tutorial's workflow: one `compose up --build`; it pushes no cache, so publishing adds nothing."""

    def __init__(self, project: Path):
        self.project = project
        self.compose = ["docker", "compose", "--project-name", project.name, "--profile", "testing"]

    def build_and_test(self) -> None:
        try:
            run([*self.compose, "up", "--build", "--exit-code-from", "test-service"], cwd=self.project, timeout=1800)
        finally:
            run([*self.compose, "down", "--volumes", "--remove-orphans"], cwd=self.project)

    def publish(self) -> None:
        pass

    def close(self) -> None:
        pass


def as_tutorial(project: Path) -> Path:
    """Replaces the baked project's Docker files with the tutorial's, on the project's base images, and gives it
    what the tutorial's Dockerfile installs from: a `dev` extra (our dev group) and `constraints.txt` (our lock's
    versions, exported by uv)."""
    web = project / "web"
    export = ["export", "--frozen", "--quiet", "--no-hashes", "--no-header", "--no-annotate", "--no-emit-project"]
    run([require_command("uv"), *export, "--output-file", web / "constraints.txt"], cwd=web)
    with (web / ".dockerignore").open("a", encoding="utf-8") as dockerignore:
        dockerignore.write("!constraints.txt\n")
    pyproject = web / "pyproject.toml"
    text = pyproject.read_text(encoding="utf-8").replace("[dependency-groups]", "[project.optional-dependencies]")
    # The tutorial's build backend, which (unlike uv_build) builds its dependencies-only install before src/ exists.
    text = re.sub(r'(?m)^requires = \["uv_build.*\nbuild-backend = "uv_build"$', TUTORIAL_BUILD_SYSTEM, text)
    pyproject.write_text(text, encoding="utf-8")
    substitutions = {
        "python:3.11.2-slim-bullseye": PYTHON_IMAGE,
        "redis:7.0.10-bullseye": REDIS_IMAGE,
        "page_tracker": app_source(project).parent.name,
    }
    for source, target in TUTORIAL_FILES.items():
        text = (BENCHMARKS / "tutorial" / source).read_text(encoding="utf-8")
        for old, new in substitutions.items():
            text = text.replace(old, new)
        (project / target).write_text(text, encoding="utf-8")
    return project


def merge_action(job_flows: list[Ours], platforms: str) -> ActionSteps:
    """The merge action for the digests that the platform jobs pushed, its inputs validated and its login done:
    the merge step, the one timed, comes next."""
    inputs = {**job_flows[0].login, "image": job_flows[0].images, "platforms": platforms,
              "digests": "\n".join(flow.digest for flow in job_flows)}  # fmt: skip
    steps = ActionSteps(MERGE_ACTION_FILE, inputs, push_to_the_default_branch(), job_flows[0].runner_env)
    steps.run("validate")
    steps.run("login")
    return steps


def one_round(workdir: Path, hub: StandInHub, suffix: str, platforms: str) -> dict:
    """Seconds of each phase, ours (and with PLATFORMS, ours for them in one job, each platform's job and their
    merge) and the tutorial's, on projects and an image name of this round alone (so that its cold run finds no
    cache an earlier round pushed)."""
    projects = {
        "ours": bake_default(workdir, project_name=f"bench-ours-{suffix}"),
        "tutorial": as_tutorial(
            bake_default(workdir, project_name=f"bench-tutorial-{suffix}", style_gate="black-isort-flake8")
        ),
    }
    flows = {"ours": Ours(projects["ours"], workdir, hub), "tutorial": Tutorial(projects["tutorial"])}
    jobs = []
    if platforms:
        projects["ours_platforms"] = bake_default(workdir, project_name=f"bench-platforms-{suffix}")
        flows["ours_platforms"] = Ours(projects["ours_platforms"], workdir, hub, platforms)
        for platform in platforms.split(","):
            name = f"job_{platform.split('/')[1]}"
            projects[name] = bake_default(workdir, project_name=f"bench-{name.replace('_', '-')}-{suffix}")
            flows[name] = Ours(projects[name], workdir, hub, platform, image=f"bench{suffix}/jobs", by_digest=True)
            jobs.append(flows[name])
    seconds = {name: {} for name in [*projects, *(["merge"] if jobs else [])]}
    # Everything either pipeline builds or pushes: the Compose-named images and our pushed repository.
    images = [*(f"{project.name}-*" for project in projects.values()), *{flow.images for flow in flows.values()
                                                                          if isinstance(flow, Ours)}]  # fmt: skip
    try:
        for phase in PHASES:
            # BuildKit's cache keys are content-based: without this, "cold" would reuse the
            # dependency layers of any earlier build of the same files on this engine.
            if phase in ("cold", "fresh"):
                empty_engine_but_base_images(*images)
            for name, flow in flows.items():
                if phase != "cold":
                    change_code_only(projects[name], f"A one-line change before the {phase} run.")
                seconds[name][phase] = round(timed(flow.build_and_test), 1)
                flow.publish()
            if jobs:
                merge = merge_action(jobs, platforms)
                seconds["merge"][phase] = round(timed(functools.partial(merge.run, "merge")), 1)
                merge.run("logout")
    finally:
        for flow in flows.values():
            flow.close()
        remove_images(*images, check=False)
    return seconds


def measure(rounds: int, image_store: str, platforms: str) -> dict:
    """Rounds on an engine of the benchmark's own with the given image store; prints and returns their figures."""
    with tempfile.TemporaryDirectory() as temporary:
        workdir = Path(temporary)
        with (
            journaled_engine(workdir, [PYTHON_IMAGE, REDIS_IMAGE, UV_IMAGE], image_store),
            stand_in_hub(workdir / "hub") as hub,
        ):
            results = [one_round(workdir, hub, secrets.token_hex(4), platforms) for _ in range(rounds)]
    seconds = {name: {phase: statistics.median(r[name][phase] for r in results) for phase in PHASES}
               for name in results[0]}  # fmt: skip
    # Ratios per round, then their median: each compares runs a few seconds apart on this noisy VM.
    per_round = {
        "fresh_over_our_warm": [r["ours"]["fresh"] / r["ours"]["warm"] for r in results],
        "fresh_over_tutorial_cold": [r["ours"]["fresh"] / r["tutorial"]["cold"] for r in results],
        **{
            f"ours_over_tutorial_{phase}": [r["ours"][phase] / r["tutorial"][phase] for r in results]
            for phase in PHASES
        },
    }
    if platforms:
        per_round |= {
            f"platforms_over_ours_{phase}": [r["ours_platforms"][phase] / r["ours"][phase] for r in results]
            for phase in PHASES
        }
        # The native-runner wall time, an estimate: the arm64 job on an arm64 runner taken to be the amd64 job.
        per_round |= {
            f"native_estimate_over_ours_{phase}": [(r["job_amd64"][phase] + r["merge"][phase]) / r["ours"][phase]
                                                   for r in results]
            for phase in PHASES
        }  # fmt: skip
    ratios = {name: round(statistics.median(values), 2) for name, values in per_round.items()}
    print(f"\n{image_store} image store")
    rows = [
        ["ours (the action's build and e2e step)", *(seconds["ours"][phase] for phase in PHASES)],
        ["tutorial (compose up --build --exit-code-from)", *(seconds["tutorial"][phase] for phase in PHASES)],
        ["ours / tutorial", *(f"{ratios[f'ours_over_tutorial_{phase}']:.2f}×" for phase in PHASES)],
    ]
    if platforms:
        rows += [
            [f"ours, platforms {platforms}", *(seconds["ours_platforms"][phase] for phase in PHASES)],
            ["ours, platforms / ours", *(f"{ratios[f'platforms_over_ours_{phase}']:.2f}×" for phase in PHASES)],
            *([f"job of {name.removeprefix('job_')} alone{' (QEMU here)' if name != 'job_amd64' else ''}",
               *(seconds[name][phase] for phase in PHASES)] for name in seconds if name.startswith("job_")),
            ["merge of the jobs' digests", *(seconds["merge"][phase] for phase in PHASES)],
            ["job per platform, native runners (ESTIMATE) / ours",
             *(f"{ratios[f'native_estimate_over_ours_{phase}']:.2f}×" for phase in PHASES)],
        ]  # fmt: skip
    print_table(["pipeline (medians)", *(f"{phase} s" for phase in PHASES)], rows)
    for goal, description in (("fresh_over_our_warm", "our warm time"),
                              ("fresh_over_tutorial_cold", "the tutorial's cold time")):  # fmt: skip
        values = ", ".join(f"{value:.2f}" for value in per_round[goal])
        print(f"fresh runner: {ratios[goal]:.2f}× {description} (median of {rounds} rounds: {values})")
    return {"rounds": results, "median_seconds": seconds, "median_ratios": ratios,
            "ratios_per_round": {name: [round(v, 3) for v in values] for name, values in per_round.items()}}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--image-store", choices=[*IMAGE_STORES, "both"], default="both")
    parser.add_argument("--platforms", default="", help="also run ours for these platforms (containerd store only)")
    options = parser.parse_args()
    stores = IMAGE_STORES if options.image_store == "both" else (options.image_store,)
    results = {
        store: measure(options.rounds, store, options.platforms if store == "containerd" else "") for store in stores
    }
    save("pipeline-platforms" if options.platforms else "pipeline", results)


if __name__ == "__main__":
    main()
