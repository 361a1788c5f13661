"""act, the local GitHub Actions runner: a workflow of a git repository run on this host."""

import json
import os
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


# Every runner label the template's jobs run on (cookiecutter.json's table), each mapped to this host: act runs the
# jobs here. An arm64 runner's job builds and tests linux/arm64 as on GitHub's arm64 runners, because the
# template gives each job its platform; here the arm64 image runs under QEMU, the stand-in for a native runner.
RUNNER_LABELS = ["ubuntu-latest", *COOKIECUTTER_JSON["_github_runners"].values()]


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
            *(option for label in dict.fromkeys(RUNNER_LABELS) for option in ("-P", f"{label}=-self-hosted")),
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
        # The upload-artifact and download-artifact stand-ins keep this run's artifacts here (tests/stand_ins).
        env = (os.environ if env is None else env) | {"TRACKER_CI_ARTIFACTS": str(files / "artifacts")}
        result = run(args, check=False, cwd=repo, stdin=subprocess.DEVNULL, timeout=1500, env=env)
        log = result.stdout + result.stderr
        (files / "act.log").write_text(log, encoding="utf-8")  # whole, where a failing test shows only its tail
        return ActResult(result.returncode, log)


def _dotenv(values: dict) -> str:
    return "".join(f"{name}={json.dumps(value)}\n" for name, value in values.items())
