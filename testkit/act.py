"""act, the local GitHub Actions runner: a workflow of a git repository run on this host."""

import json
import secrets
import subprocess
from dataclasses import dataclass
from pathlib import Path

from testkit.harness import REPO_ROOT, require_command, run
from testkit.template import COOKIECUTTER_JSON

ACTION_REF = COOKIECUTTER_JSON["tracker_ci_action"]
STAND_INS = REPO_ROOT / "tests" / "stand_ins"
# What act runs in place of actions it would download: this repository for the default tracker-ci reference, the
# suite's stand-in (tests/stand_ins/<name>) for every action the template pins but actions/checkout, which act
# itself replaces with a copy of the repository.
LOCAL_ACTIONS = {ACTION_REF: REPO_ROOT} | {
    f"{action}@{pin['commit']}": STAND_INS / action.split("/")[1]
    for action, pin in COOKIECUTTER_JSON["_github_actions"].items()
    if action != "actions/checkout"
}


@dataclass(frozen=True)
class ActResult:
    exit_code: int
    log: str


class ActRunner:
    """Runs a workflow of a git repository with act on this host, actions mapped by LOCAL_ACTIONS."""

    def __init__(self, workdir: Path):
        self.act = require_command("act")
        self.workdir = workdir

    def run(  # pylint: disable=too-many-arguments
        self,
        repo: Path,
        event: str,
        *,
        payload=None,
        secrets_=None,
        variables=None,
        workflow=None,
        env=None,
        actor=None,
    ) -> ActResult:
        files = self.workdir / f"act-{secrets.token_hex(4)}"
        files.mkdir()
        (files / "event.json").write_text(json.dumps(payload or {}), encoding="utf-8")
        # Secrets go through a file: a command line is visible to every process on the machine.
        (files / "secrets.env").write_text(_dotenv(secrets_ or {}), encoding="utf-8")
        (files / "vars.env").write_text(_dotenv(variables or {}), encoding="utf-8")
        args = [
            self.act, event,
            "-P", "ubuntu-latest=-self-hosted",
            "-e", files / "event.json",
            "--secret-file", files / "secrets.env",
            "--var-file", files / "vars.env",
        ]  # fmt: skip
        for reference, folder in LOCAL_ACTIONS.items():
            args += ["--local-repository", f"{reference}={folder}"]
        if actor:
            args += ["--actor", actor]
        if workflow:
            args += ["-W", workflow]
        result = run(args, check=False, cwd=repo, stdin=subprocess.DEVNULL, timeout=1500, env=env)
        return ActResult(result.returncode, result.stdout + result.stderr)


def _dotenv(values: dict) -> str:
    return "".join(f"{name}={json.dumps(value)}\n" for name, value in values.items())
