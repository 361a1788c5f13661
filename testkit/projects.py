"""Helpers for baked projects: baking, reading their files, and running their own commands."""

import ast
import json
import os
import secrets
import shlex
import subprocess
import sys
import tomllib
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from testkit.action import step_env_defaults
from testkit.harness import REPO_ROOT, free_port, require_command, run, stop_process, wait_until

TEXT_SUFFIXES = {".py", ".toml", ".txt", ".yml", ".yaml", ".md", ".cfg", ""}


def bake(cookies, **extra_context) -> Path:
    """Bakes the template with the given answers and locks the project's dependencies, the user's first step
    (README.md); fails the test if cookiecutter, a hook or the lock failed."""
    result = cookies.bake(extra_context=extra_context)
    assert result.exit_code == 0, f"bake failed: {result.exception}"
    project = Path(result.project_path)
    lock_dependencies(project)
    return project


def lock_dependencies(project: Path) -> None:
    """`uv lock` in the project's web folder, as its README says, with the uv version its Dockerfile uses."""
    run([require_command("uv"), "lock", "--quiet", "--directory", project / "web"])


def text_files(project: Path) -> list[Path]:
    return [
        path
        for path in sorted(project.rglob("*"))
        if path.is_file() and (path.suffix in TEXT_SUFFIXES or path.name.startswith("Dockerfile"))
    ]


def assert_files_parse(project: Path) -> None:
    """Every generated YAML, TOML and Python file parses, Compose reads the project, hadolint passes its
    Dockerfile: what any accepted answer, however odd, must leave true."""
    for path in text_files(project):
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".yml", ".yaml"):
            assert yaml.safe_load(text) is not None, path
        elif path.suffix == ".toml":
            tomllib.loads(text)
        elif path.suffix == ".py":
            ast.parse(text, filename=str(path))
    run(["docker", "compose", "--project-directory", project, "config", "--quiet"])
    run([require_command("hadolint"), "--config", REPO_ROOT / ".hadolint.yaml", project / "web" / "Dockerfile"])


def run_unit_tests(project: Path, python: Path) -> None:
    """Runs a project's own unit tests with a venv of another project of the same template, the project's
    own sources first on the path, so a changed project needs no install of its own."""
    env = {**os.environ, "PYTHONPATH": str(project / "web" / "src")}
    run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test/unit/"], cwd=project / "web", env=env)


def app_source(project: Path) -> Path:
    """The generated app.py; its folder's name is the project's import package."""
    return next((project / "web" / "src").glob("*/app.py"))


def change_code_only(project: Path, note: str) -> None:
    """A one-line change of app.py that every style gate accepts: a comment line above everything else."""
    app = app_source(project)
    app.write_text(f"# {note}\n" + app.read_text(encoding="utf-8"), encoding="utf-8")


def dockerfile_instructions(web: Path) -> list[tuple[str, str]]:
    """(instruction, arguments) of a web folder's Dockerfile in order, continuation lines joined."""
    text = (web / "Dockerfile").read_text(encoding="utf-8").replace("\\\n", " ")
    lines = [line.strip() for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    return [tuple(line.split(maxsplit=1)) for line in lines]


def gate_commands(web: Path) -> list[list[str]]:
    """The commands the Dockerfile's builder stage gates on (tests, linters, scan)."""
    gate_run = next(args for name, args in dockerfile_instructions(web) if name == "RUN" and "pytest test/unit" in args)
    return [shlex.split(part) for part in gate_run.split("&&")]


def gate_name(command: list[str]) -> str:
    """A gate command's tool, as GATE_FINDINGS names it: the module, and ruff's subcommand."""
    return " ".join(command[2:4]) if command[2] == "ruff" else command[2]


@dataclass(frozen=True)
class GateFinding:
    """A change to app.py that exactly one gate of the builder stage reports, and what its log then says."""

    style_gate: str  # the style_gate answer whose builder stage runs the gate
    change: Callable[[str], str]
    log: str


def _append(code: str) -> Callable[[str], str]:
    return lambda source: f"{source}\n\n{code}\n"


GATE_FINDINGS = {
    # The tutorial's experiment: a changed error emoji fails a unit test.
    "pytest": GateFinding(
        "ruff",
        lambda source: source.replace("\\N{PENSIVE FACE}", "\\N{FACE WITH TEARS OF JOY}"),
        "FAILED test/unit/test_app.py::test_should_handle_redis_connection_error",
    ),
    # A misspelt Redis command in unused code: only pylint's inference sees it.
    "pylint": GateFinding(
        "ruff",
        _append('def count_twice():\n    return Redis().incrr("page_views")'),
        "Instance of 'Redis' has no 'incrr' member",
    ),
    "bandit": GateFinding("ruff", _append('PASSWORD = "hunter2-not-a-secret"'), "B105:hardcoded_password_string"),
    # 91 characters: over the style gates' 88, under pylint's 100, several words (a lone long word is a URL).
    "ruff check": GateFinding("ruff", _append("# " + " ".join(["a long comment"] * 6)), "E501 Line too long"),
    "ruff format": GateFinding("ruff", _append("GREETING = 'hello'"), "would be reformatted"),
    "flake8": GateFinding("black-isort-flake8", _append("# " + " ".join(["a long comment"] * 6)), "E501 line too long"),
    "isort": GateFinding(
        "black-isort-flake8",
        lambda source: source.replace(
            "from redis import Redis, RedisError\nfrom redis.connection import parse_url\n",
            "from redis.connection import parse_url\nfrom redis import Redis, RedisError\n",
        ),
        "Imports are incorrectly sorted",
    ),
    "black": GateFinding("black-isort-flake8", _append("GREETING = 'hello'"), "would reformat"),
}


def break_one_gate(web: Path, gate: str) -> None:
    """Applies GATE_FINDINGS[gate] to the app.py below a project's web folder."""
    app = app_source(web.parent)
    source = app.read_text(encoding="utf-8")
    changed = GATE_FINDINGS[gate].change(source)
    assert changed != source, f"the {gate} finding no longer applies to app.py"
    app.write_text(changed, encoding="utf-8")


def action_test_env(project: Path, compose_project: str, github_output: Path) -> dict:
    """The environment action.yml gives action/test.sh, with the action's default inputs."""
    return {
        **os.environ,
        **step_env_defaults("test"),
        "WORKING_DIRECTORY": str(project),
        "COMPOSE_PROJECT": compose_project,
        "GITHUB_OUTPUT": str(github_output),
    }


# Paths inside the runtime image that would mean build tools, caches or dev dependencies leaked in.
RUNTIME_IMAGE_FORBIDDEN = [
    "/home/app/.venv/bin/pip",
    "/home/app/.venv/bin/pytest",
    "/home/app/.venv/bin/pylint",
    "/home/app/.venv/bin/ruff",
    "/home/app/.venv/bin/black",
    "/usr/local/bin/uv",
    "/home/app/src",
    "/home/app/test",
    "/home/app/.cache",
    "/root/.cache",
    "/var/lib/apt/lists/lock",
]


def runtime_base_image(project: Path) -> str:
    """The image under the Dockerfile's runtime stage, the last one, through the stages it builds on."""
    froms = [args.split() for name, args in dockerfile_instructions(project / "web") if name == "FROM"]
    stages = {words[2]: words[0] for words in froms if len(words) == 3 and words[1].upper() == "AS"}
    image = froms[-1][0]
    while image in stages:
        image = stages[image]
    return image


def image_bytes(reference: str) -> int:
    return int(run(["docker", "image", "inspect", "--format", "{{.Size}}", reference]).stdout)


def runtime_image_leftovers(image: str) -> list[str]:
    """Which of RUNTIME_IMAGE_FORBIDDEN exist in the image."""
    probe = "import os, sys; print(' '.join(p for p in sys.argv[1:] if os.path.exists(p)))"
    return run(["docker", "run", "--rm", image, "python", "-c", probe, *RUNTIME_IMAGE_FORBIDDEN]).stdout.split()


def make_venv(project: Path, venv: Path) -> Path:
    """A venv with the project installed as its README says (`uv sync`: the lock, editable, the dev group), at
    `venv` instead of web/.venv; returns its python."""
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
    run(
        [require_command("uv"), "sync", "--quiet", "--locked", "--python", sys.executable], cwd=project / "web", env=env
    )
    return venv / "bin" / "python"


def server_command(project: Path, bind: str) -> list[str]:
    """The runtime image's CMD (the server Compose runs), its --bind pointed at `bind`."""
    command = json.loads([args for name, args in dockerfile_instructions(project / "web") if name == "CMD"][-1])
    command[command.index("--bind") + 1] = bind
    return command


@contextmanager
def serving(args: list, cwd: Path, env: dict, port: int):
    """Runs a web server command until the block ends; yields its URL once /health answers 200."""
    process = subprocess.Popen([str(arg) for arg in args], cwd=cwd, env=env)  # pylint: disable=consider-using-with
    url = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(f"{url}/health"), timeout=20, what=f"{args[0]} on port {port}")
        yield url
    finally:
        stop_process(process)


@contextmanager
def gunicorn_server(project: Path, python: Path, redis_url: str):
    """Serves the project with the server command of its own Dockerfile, on a free loopback port."""
    port = free_port()
    executable, *args = server_command(project, f"127.0.0.1:{port}")
    env = {"REDIS_URL": redis_url, "PATH": str(python.parent)}
    with serving([python.parent / executable, *args], project / "web", env, port) as url:
        yield url


def _answers(url: str) -> bool:
    try:
        return requests.get(url, timeout=1).status_code == 200
    except requests.ConnectionError:
        return False


def compose_leftovers(project_name: str) -> list[str]:
    """Containers, networks and volumes a Compose project left behind."""
    label = f"label=com.docker.compose.project={project_name}"
    return [
        *run(["docker", "ps", "-aq", "--filter", label]).stdout.split(),
        *run(["docker", "network", "ls", "-q", "--filter", label]).stdout.split(),
        *run(["docker", "volume", "ls", "-q", "--filter", label]).stdout.split(),
    ]


def remove_images(*references: str, check: bool = True) -> None:
    """Removes every image whose name matches one of Docker's reference patterns, tagged or left untagged
    by a newer pull of the same name."""
    listing = ["docker", "images", "--quiet", "--filter"]
    images = {image for reference in references for image in run([*listing, f"reference={reference}"]).stdout.split()}
    if images:
        run(["docker", "rmi", "--force", *sorted(images)], check=check)


def empty_engine_but_base_images(*references: str) -> None:
    """The engine as on a fresh GitHub runner: no build cache and no image matching the references (the
    project's own); the base images stay."""
    remove_images(*references)
    run(["docker", "builder", "prune", "--all", "--force"])


def unique_name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"


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
        """redis-cli in the Redis container, logged in from the secret file as an operator would: the password
        stays inside the container, out of every argument list."""
        login = 'REDISCLI_AUTH="$(cat /run/secrets/redis-password)" exec redis-cli "$@"'
        return self.compose("exec", "-T", "redis-service", "sh", "-c", login, "redis-cli", *args, check=check)

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
