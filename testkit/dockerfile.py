"""The generated Dockerfile read as data: its instructions, stages and server command, and the gates of its builder
stage with a finding for each that only that gate reports."""

import json
import shlex
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from testkit.projects import app_source


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


def runtime_base_image(project: Path) -> str:
    """The image under the Dockerfile's runtime stage, the last one, through the stages it builds on."""
    froms = [args.split() for name, args in dockerfile_instructions(project / "web") if name == "FROM"]
    stages = {words[2]: words[0] for words in froms if len(words) == 3 and words[1].upper() == "AS"}
    image = froms[-1][0]
    while image in stages:
        image = stages[image]
    return image


def server_command(project: Path, bind: str) -> list[str]:
    """The runtime image's CMD (the server Compose runs), its --bind pointed at `bind`."""
    command = json.loads([args for name, args in dockerfile_instructions(project / "web") if name == "CMD"][-1])
    command[command.index("--bind") + 1] = bind
    return command
