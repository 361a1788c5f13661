"""The generated workflows and ours: secrets only where an image is published, every third-party action
pinned by commit from the template's one table."""

import re

import pytest
import yaml

from testkit.harness import REPO_ROOT, run
from testkit.projects import bake, deploy_signature_check
from testkit.template import COOKIECUTTER_JSON, DEFAULT_ANSWERS, derived

PINS = COOKIECUTTER_JSON["_github_actions"]
USES = re.compile(r"^\s*(?:- )?uses: (\S+?)(?: # (\S+))?$", re.MULTILINE)

WORKFLOW_VARIANTS = [
    pytest.param({}, id="action-docker-hub"),
    pytest.param({"registry": "ghcr.io", "image_namespace": "octo-org"}, id="action-ghcr"),
    pytest.param({"ci": "inline"}, id="inline-docker-hub"),
    pytest.param({"ci": "inline", "registry": "ghcr.io", "image_namespace": "octo-org"}, id="inline-ghcr"),
    pytest.param({"ci": "inline", "registry": "registry.example.com:5000", "default_branch": "trunk"}, id="inline-own"),
    pytest.param({"registry": "registry.example.com:5000", "default_branch": "trunk"}, id="action-own-registry"),
    pytest.param({"platforms": "linux/amd64"}, id="action-one-platform"),
    pytest.param({"platforms": "linux/amd64,linux/arm64", "arm64_runner": "qemu"}, id="action-qemu"),
]


def _job_per_platform(answers: dict) -> bool:
    """Whether the answers generate a job per platform and a merge job (the action workflow's default)."""
    answers = DEFAULT_ANSWERS | answers
    return answers["ci"] == "action" and "," in answers["platforms"] and answers["arm64_runner"] == "native"


def _release_commits(record: str) -> dict[tuple[str, str], str]:
    """{(action, tag): commit} of the recorded release tags (tests/action_release_tags.txt)."""
    rows = [line.split() for line in record.splitlines() if line and not line.startswith("#")]
    return {(action, tag): commit for action, tag, commit in rows}


RELEASE_COMMITS = _release_commits((REPO_ROOT / "tests" / "action_release_tags.txt").read_text(encoding="utf-8"))


def _unverified(pins: dict) -> list[str]:
    """The actions whose pinned commit is not the recorded commit of the release tag the pin names."""
    return [action for action, pin in pins.items() if pin["commit"] != RELEASE_COMMITS.get((action, pin["version"]))]


def test_should_keep_one_table_of_pins_each_the_commit_of_its_release_tag():
    assert set(PINS) == {
        "actions/checkout",
        "actions/download-artifact",
        "actions/upload-artifact",
        "docker/login-action",
        "docker/setup-qemu-action",
        "sigstore/cosign-installer",
    }
    assert all(re.fullmatch(r"v\d+\.\d+\.\d+", pin["version"]) for pin in PINS.values())
    assert _unverified(PINS) == []


def test_should_refuse_a_pin_whose_commit_is_not_its_release_tags():
    # Given: the pins with one commit made up, and one of another release of the same action
    made_up = PINS | {"docker/login-action": PINS["docker/login-action"] | {"commit": "4907a6d" + "0" * 33}}
    older = RELEASE_COMMITS[("actions/checkout", "v7.0.0")]
    another_release = PINS | {"actions/checkout": PINS["actions/checkout"] | {"commit": older}}

    # When / Then
    assert _unverified(made_up) == ["docker/login-action"]
    assert _unverified(another_release) == ["actions/checkout"]


@pytest.mark.parametrize("answers", WORKFLOW_VARIANTS)
def test_should_pin_every_third_party_action_of_a_generated_workflow_by_commit(cookies, answers):
    # Given
    workflow = (bake(cookies, **answers) / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8")

    # When
    uses = USES.findall(workflow)

    # Then: the tracker-ci action or its merge action (the answer, by tag until it has a release to pin to) or a
    # pinned one
    assert uses
    for reference, version in uses:
        if reference in (COOKIECUTTER_JSON["tracker_ci_action"], derived("__merge_action")):
            continue
        action, commit = reference.split("@")
        assert (commit, version) == (PINS[action]["commit"], PINS[action]["version"]), reference


def test_should_pin_our_own_workflows_from_the_same_table_and_show_dependabot_every_pin():
    # Given: our workflows, whose pins Dependabot keeps current (template-pins.yml names the ones no job uses)
    workflows = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))

    # When
    uses = [use for path in workflows for use in USES.findall(path.read_text(encoding="utf-8")) if use[0] != "$/"]

    # Then: a pin Dependabot moved fails here until cookiecutter.json follows
    for reference, version in uses:
        action, commit = reference.split("@")
        assert (commit, version) == (PINS[action]["commit"], PINS[action]["version"]), reference
    assert {reference.split("@")[0] for reference, _ in uses} == set(PINS)


# The first cosign release free of every advisory known on 2026-12-06.
# Ref: https://github.com/sigstore/cosign/security/advisories/GHSA-fx35-mq7g-6g98
COSIGN_WITH_EVERY_FIX = (3, 1, 3)


@pytest.mark.parametrize("answers", [*WORKFLOW_VARIANTS, pytest.param({"deploy": "swarm"}, id="action-swarm")])
def test_should_install_a_cosign_release_past_every_known_advisory(cookies, answers):
    # Given
    workflow = yaml.safe_load((bake(cookies, **answers) / ".github" / "workflows" / "ci.yml").read_text())

    # When: every cosign-installer step of every job
    installs = [step.get("with", {}) for job in workflow["jobs"].values() for step in job["steps"]
                if step.get("uses", "").startswith("sigstore/cosign-installer@")]  # fmt: skip

    # Then: cookiecutter.json's cosign, not the installer's default (which lags the releases), and one that fixes
    # GHSA-fx35-mq7g-6g98 (a verification bypass through legacy bundles, in every release up to 3.1.2)
    assert all(install == {"cosign-release": derived("__cosign_version")} for install in installs)
    assert tuple(map(int, derived("__cosign_version").removeprefix("v").split("."))) >= COSIGN_WITH_EVERY_FIX
    assert installs or answers.get("ci") == "inline"


@pytest.mark.parametrize("answers", WORKFLOW_VARIANTS)
def test_should_give_registry_credentials_only_to_default_branch_pushes_in_an_environment(cookies, answers):
    # Given
    branch = answers.get("default_branch", "main")
    workflow = yaml.safe_load((bake(cookies, **answers) / ".github" / "workflows" / "ci.yml").read_text("utf-8"))

    # When
    jobs = workflow["jobs"]
    with_credentials = {name for name, job in jobs.items() if "secrets." in yaml.safe_dump(job)} - {"deploy"}

    # Then: read only by default; pull requests read only, no secrets, no environment
    job_per_platform = _job_per_platform(answers)
    assert workflow["permissions"] == {"contents": "read"}
    assert with_credentials == ({"publish", "merge"} if job_per_platform else {"publish"})
    assert jobs["test"]["if"] == "github.event_name == 'pull_request'"
    assert jobs["test"]["permissions"] == {"contents": "read"}
    assert "environment" not in jobs["test"]
    publish = jobs["publish"]
    default_branch = f"github.ref == 'refs/heads/{branch}'"
    if answers.get("ci", "action") == "action":  # release tags publish too
        assert (
            publish["if"]
            == f"github.event_name == 'push' && ({default_branch} || startsWith(github.ref, 'refs/tags/v'))"
        )
        assert workflow[True]["push"]["tags"] == ["v*"]  # YAML reads the key `on` as True
        # ... each only after the release check, which runs on every push, holds no secret and no environment
        check = jobs["release-check"]
        assert publish["needs"] == "release-check"
        assert (check["if"], check["permissions"], "environment" in check) == (
            "github.event_name == 'push'",
            {"contents": "read"},
            False,
        )
    else:
        assert publish["if"] == f"github.event_name == 'push' && {default_branch}"
        assert "tags" not in workflow[True]["push"]
    assert publish["environment"] == "registry"
    write = {"packages": "write"} if answers.get("registry") == "ghcr.io" else {}
    assert publish["permissions"] == {"contents": "read", **write}
    if job_per_platform:  # the merge job: only after every platform's publish job, in the same environment
        merge = jobs["merge"]
        assert (merge["needs"], merge["environment"], merge["permissions"]) == (
            "publish",
            "registry",
            {"contents": "read", **write},
        )
        assert "if" not in merge


def test_should_cancel_only_a_superseded_pull_request_run_never_a_mainline_push(cookies):
    # Given
    workflow = yaml.safe_load((bake(cookies) / ".github" / "workflows" / "ci.yml").read_text("utf-8"))

    # When: runs share a group per workflow and ref; a newer run cancels the one in progress only where this holds
    concurrency = workflow["concurrency"]

    # Then: a push to the default branch always finishes, so every commit's tested image is published (and deployed)
    assert concurrency["group"] == "${{ github.workflow }}-${{ github.ref }}"
    assert concurrency["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"


@pytest.mark.parametrize(
    ("answers", "deploys"),
    [
        pytest.param({"deploy": "swarm"}, True, id="action-swarm"),
        pytest.param({"deploy": "swarm", "default_branch": "trunk"}, True, id="action-swarm-trunk"),
        # The inline workflow reports no digest to deploy: its README says to run deploy.sh by hand.
        pytest.param({"deploy": "swarm", "ci": "inline"}, False, id="inline-swarm"),
        pytest.param({}, False, id="action-no-deploy"),
        pytest.param({"deploy": "swarm", "platforms": "linux/amd64"}, True, id="one-platform-swarm"),
    ],
)
def test_should_deploy_only_the_pushed_digest_after_a_default_branch_push_in_the_production_environment(
    cookies, answers, deploys
):
    # Given
    branch = answers.get("default_branch", "main")
    workflow = yaml.safe_load((bake(cookies, **answers) / ".github" / "workflows" / "ci.yml").read_text("utf-8"))

    # When
    jobs = workflow["jobs"]

    # Then
    assert ("deploy" in jobs) == deploys
    if deploys:
        deploy = jobs["deploy"]
        pushed_by = "merge" if _job_per_platform(answers) else "publish"
        assert deploy["needs"] == pushed_by
        assert deploy["if"] == f"github.event_name == 'push' && github.ref == 'refs/heads/{branch}'"
        assert deploy["environment"] == "production"
        assert deploy["permissions"] == {"contents": "read"}
        step = {"publish": "pipeline", "merge": "merge"}[pushed_by]
        assert jobs[pushed_by]["outputs"] == {
            output: f"${{{{ steps.{step}.outputs.{output} }}}}" for output in ("digest", "signed")
        }
        assert (
            deploy["env"]["IMAGE"] == f"docker.io/realpython/page-tracker@${{{{ needs.{pushed_by}.outputs.digest }}}}"
        )
        assert not any("IMAGE" in step.get("env", {}) for step in deploy["steps"])
        secrets_used = {name for name in ("DEPLOY_SSH_KEY", "DEPLOY_SSH_KNOWN_HOSTS", "DEPLOY_SSH_TARGET", "REDIS_PASSWORD")
                        if f"secrets.{name}" in yaml.safe_dump(deploy)}  # fmt: skip
        assert len(secrets_used) == 4


@pytest.mark.parametrize(
    ("signed", "public_key", "deploys"),
    [
        pytest.param("true", "", False, id="signed-but-no-public-key"),
        pytest.param("false", "", True, id="signing-off"),
    ],
)
def test_should_deploy_a_signed_image_only_once_it_verifies(cookies, tmp_path, signed, public_key, deploys):
    # Given: the deploy job's signature check, with or without the public key; a cosign that would verify anything
    check = deploy_signature_check(bake(cookies, deploy="swarm"))
    fake = tmp_path / "bin"
    fake.mkdir()
    (fake / "cosign").write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    (fake / "cosign").chmod(0o755)
    env = {"PATH": f"{fake}:/usr/bin:/bin", "IMAGE": f"docker.io/realpython/page-tracker@sha256:{'a' * 64}"}

    # When
    result = run(
        ["bash", "-e", "-c", check], env=env | {"SIGNED": signed, "COSIGN_PUBLIC_KEY": public_key}, check=False
    )

    # Then: a signed image without a key to verify it stops the deploy (fails closed), naming the variable
    assert (result.returncode == 0) is deploys, result.stdout
    if not deploys:
        assert "::error::" in result.stdout and "COSIGN_PUBLIC_KEY is not set" in result.stdout


@pytest.mark.parametrize("ci", ["action", "inline"])
def test_should_run_every_step_with_pipefail(cookies, ci):
    # When
    workflow = yaml.safe_load((bake(cookies, ci=ci) / ".github" / "workflows" / "ci.yml").read_text("utf-8"))

    # Then: bash named as the shell (GitHub runs it with -eo pipefail), and no step that names another
    assert workflow["defaults"] == {"run": {"shell": "bash"}}
    shells = {step["shell"] for job in workflow["jobs"].values() for step in job["steps"] if "shell" in step}
    assert shells <= {"bash"}, shells


@pytest.mark.parametrize("answers", WORKFLOW_VARIANTS)
def test_should_let_one_run_at_a_time_write_a_commits_tags(cookies, answers):
    # Given
    workflow = yaml.safe_load((bake(cookies, **answers) / ".github" / "workflows" / "ci.yml").read_text("utf-8"))
    jobs = workflow["jobs"]

    # When: the job that writes the tags (the merge of a job per platform, else the publish job)
    writer = "merge" if "merge" in jobs else "publish"

    # Then: queued by commit, never cancelled, so a release tag's run and its branch push's never interleave
    assert jobs[writer]["concurrency"] == {
        "group": "${{ github.workflow }}-tags-${{ github.sha }}",
        "cancel-in-progress": False,
    }
    assert all("concurrency" not in job for name, job in jobs.items() if name != writer)


# The platform each runner label runs natively (GitHub's hosted runners); act maps every label to this host, where
# QEMU is registered, so a job asking for a platform its runner lacks passes here and fails on GitHub.
RUNNER_PLATFORM = {"ubuntu-latest": "linux/amd64", "ubuntu-26.04-arm": "linux/arm64"}


def test_should_ask_each_platform_job_for_its_runners_platform_alone(cookies):
    # Given: the default answers, a job per platform
    workflow = yaml.safe_load((bake(cookies) / ".github" / "workflows" / "ci.yml").read_text("utf-8"))

    # When: every job on a runner of its matrix, and the platforms its steps ask the action for
    matrix_jobs = {name: job for name, job in workflow["jobs"].items() if job["runs-on"] == "${{ matrix.runner }}"}
    asked = {
        name: [step["with"]["platforms"] for step in job["steps"] if "platforms" in step.get("with", {})]
        for name, job in matrix_jobs.items()
    }

    # Then: the pull-request and the publish job each; each runner of the platform it runs natively, and each step
    # asking for the matrix's one platform, never all of them
    assert sorted(matrix_jobs) == ["publish", "test"]
    assert set(RUNNER_PLATFORM) == {"ubuntu-latest", *COOKIECUTTER_JSON["_github_runners"].values()}
    for name, job in matrix_jobs.items():
        entries = job["strategy"]["matrix"]["include"]
        assert [RUNNER_PLATFORM[entry["runner"]] for entry in entries] == [entry["platform"] for entry in entries]
        assert asked[name] == ["${{ matrix.platform }}"], name
