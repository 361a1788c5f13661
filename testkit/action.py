"""The action's facts, read once from action.yml: its inputs, their defaults, and what each step's environment
takes from them."""

import re

import yaml

from testkit.harness import REPO_ROOT

ACTION = yaml.safe_load((REPO_ROOT / "action.yml").read_text(encoding="utf-8"))
INPUTS = ACTION["inputs"]
INPUT_EXPRESSION = re.compile(r"\$\{\{ inputs\.([a-z-]+) \}\}")


def step_env_defaults(step_id: str) -> dict[str, str]:
    """The variables of a step's environment that come from the action's inputs, at the inputs' defaults: what
    the step gets from a workflow that sets no input."""
    step = next(step for step in ACTION["runs"]["steps"] if step.get("id") == step_id)
    return {
        name: str(INPUTS[match.group(1)].get("default", ""))
        for name, value in step["env"].items()
        if (match := INPUT_EXPRESSION.fullmatch(str(value)))
    }
