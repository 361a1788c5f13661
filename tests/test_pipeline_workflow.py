"""The reusable workflow (.github/workflows/pipeline.yml), statically: who gets which secret, what it pins, and its
documentation. Its runs under act are in test_action_act.py."""

import json
import re

import pytest
import yaml

from testkit.action import documented_default
from testkit.harness import REPO_ROOT, actionlint
from testkit.markdown import fenced_blocks, markdown_table
from testkit.pipeline import PIPELINE_FILE, rendered_pipeline
from testkit.projects import bake
from testkit.template import COOKIECUTTER_JSON, derived

PIPELINE = yaml.safe_load(PIPELINE_FILE.read_text(encoding="utf-8"))
CALL = PIPELINE[True]["workflow_call"]  # YAML 1.1 reads the key `on` as true
JOBS = PIPELINE["jobs"]


def test_should_be_what_its_source_renders():
    # Given: the committed workflow, which callers reach by `uses:` and cannot render themselves
    committed = PIPELINE_FILE.read_text(encoding="utf-8")

    # When
    rendered = rendered_pipeline()

    # Then: an edit of either alone, or a pin that Dependabot moved here but not in cookiecutter.json, fails here
    assert committed == rendered, "run `make pipeline` after editing templates/pipeline.yml or templates/workflow.j2"


# The template's own steps that the reusable workflow leaves to its caller's inputs (throwaway-secrets).
TEMPLATE_ONLY_STEPS = {"Generate a throw-away Redis password for this run"}


@pytest.mark.parametrize("job", ["publish", "merge"])
def test_should_push_and_merge_with_the_template_workflows_steps(cookies, job):
    # Given: the template's workflow for the default answers, a job per platform then a merge
    generated = yaml.safe_load((bake(cookies) / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))

    # When: each job's steps, as what they run and what they give the action
    def steps(workflow):
        return [
            (step["name"], step.get("uses"), step.get("run"), step.get("env"), sorted(step.get("with", {})))
            for step in workflow["jobs"][job]["steps"]
            if step["name"] not in TEMPLATE_ONLY_STEPS
        ]

    ours, template = steps(PIPELINE), steps(generated)

    # Then: the same steps, in the same order, each running the same thing; the reusable workflow's action steps
    # take every input the template's do, and the caller's Compose layout and tags besides
    assert [step[:4] for step in ours] == [step[:4] for step in template]
    for (name, *_, inputs), (*_, template_inputs) in zip(ours, template, strict=True):
        assert set(template_inputs) <= set(inputs), name


def test_should_pass_actionlint():
    actionlint(PIPELINE_FILE, runner_labels=COOKIECUTTER_JSON["_github_runners"].values())


def test_should_give_no_secret_and_no_environment_to_the_jobs_that_do_not_push():
    # Given: the jobs that run on a pull request, or before any push
    for name in ("plan", "test"):
        job = JOBS[name]

        # Then: no secret named, no environment (whose secrets it would get), the least permissions
        assert "secrets." not in json.dumps(job), name
        assert "environment" not in job, name
        assert job["permissions"] == {"contents": "read"}, name


def test_should_push_only_from_jobs_in_the_callers_environment_with_secrets_named_one_by_one():
    # Given
    text = PIPELINE_FILE.read_text(encoding="utf-8")

    # Then: the jobs that push or merge run in the environment the caller names; every secret is declared, none
    # inherited; each job that pushes follows a plan that decided to publish
    assert {name for name, job in JOBS.items() if "environment" in job} == {"publish", "merge"}
    assert all(JOBS[name]["environment"] == "${{ inputs.environment }}" for name in ("publish", "merge"))
    assert "secrets: inherit" not in text
    used = set(re.findall(r"secrets\.([A-Z_]+)", text))
    assert used == set(CALL["secrets"])
    assert JOBS["publish"]["if"] == "needs.plan.outputs.publish == 'true'"
    assert JOBS["test"]["if"] == "needs.plan.outputs.publish != 'true'"
    assert JOBS["merge"]["needs"] == "publish"


def test_should_pin_what_the_template_pins():
    # Given: every action the workflow uses but ours, and the cosign it installs
    steps = [step for job in JOBS.values() for step in job["steps"]]
    pinned = {step["uses"].split("@")[0]: step["uses"].split("@")[1] for step in steps if "uses" in step}
    ours = {COOKIECUTTER_JSON["tracker_ci_action"], derived("__merge_action")}
    cosign = [step["with"]["cosign-release"] for step in steps if "cosign-installer" in step.get("uses", "")]

    # Then: the commits of cookiecutter.json's table, which Dependabot and the template move together; the template's
    # runner labels and cosign release
    others = {action: ref for action, ref in pinned.items() if f"{action}@{ref}" not in ours}
    assert others and others == {action: COOKIECUTTER_JSON["_github_actions"][action]["commit"] for action in others}
    assert json.loads(CALL["inputs"]["runners"]["default"]) == COOKIECUTTER_JSON["_github_runners"]
    assert cosign == [derived("__cosign_version")]


@pytest.mark.parametrize("section", ["inputs", "secrets", "outputs"])
def test_should_document_every_input_secret_and_output(section):
    # Given
    docs = (REPO_ROOT / "docs" / "pipeline.md").read_text(encoding="utf-8")

    # When
    rows = markdown_table(docs, f"## {section.capitalize()}")

    # Then
    documented = {row[0].strip("`"): row[-1] for row in rows}
    assert documented == {name: spec["description"].strip() for name, spec in CALL[section].items()}
    if section == "inputs":
        defaults = {row[0].strip("`"): row[1] for row in rows}
        assert defaults == {name: documented_default(spec) for name, spec in CALL["inputs"].items()}


def test_should_show_the_same_call_in_the_readme_and_its_page():
    # Given
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    page = (REPO_ROOT / "docs" / "pipeline.md").read_text(encoding="utf-8")

    # Then: the README's quick call (the one the act tests run) is the page's usage
    assert (
        fenced_blocks(readme, "## Use the action in any repository", "yaml")[0]
        == fenced_blocks(page, "## Usage", "yaml")[0]
    )
