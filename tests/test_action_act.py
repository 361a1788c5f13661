"""The generated workflows run for real under act, against the stand-in Docker Hub and GHCR: the tested
image pushed on the default branch, nothing on pull requests, clear failures."""

import json
import re
import secrets
from dataclasses import replace

import pytest
import requests
import yaml

from testkit.compose import compose_leftovers
from testkit.cosign import COSIGN_DIR, generate_key_pair, sign, verify
from testkit.engine import journaled_engine
from testkit.harness import REPO_ROOT, engine_image_store, git_commit, run
from testkit.images import empty_engine_but_base_images, remove_images
from testkit.markdown import fenced_blocks
from testkit.projects import bake, change_code_only, deploy_signature_check, unique_name
from testkit.stack import base_images, wait_for_the_edge
from testkit.template import DEFAULT_ANSWERS, derived


def _outputs(log: str) -> dict:
    """Step outputs as act logs them (`::set-output:: name=value`); the last value of a name wins."""
    return dict(re.findall(r"::set-output:: ([a-z0-9-]+)=(.*)", log))


# The secrets each registry's workflow reads, as the template names them (cookiecutter.json derives them).
REGISTRY_SECRETS = {
    "docker.io": lambda registry: {"DOCKERHUB_USERNAME": registry.username, "DOCKERHUB_TOKEN": registry.password},
    "ghcr.io": lambda registry: {"GITHUB_TOKEN": registry.password},
}


# What GitHub's event payload says of the repository, for the image's OCI labels ($ and quotes on purpose).
REPOSITORY_FACTS = {"description": 'Counts "views" in $REDIS', "license": {"spdx_id": "MIT"}}


class ActScenario:
    """A baked project (or a PROJECT folder of another layout), committed in its own git repository, whose own
    workflow act runs against the stand-in Docker Hub or GHCR. Where act differs from GitHub: it runs every job on this host, whatever its
    runner label (an arm64 runner's job builds and tests linux/arm64 under QEMU, testkit/act.py), does not
    enforce the `registry` environment's branch rule (the tests give secrets to every run and check that
    the pull-request job never uses them), and runs stand-ins for the other pinned actions (tests/stand_ins):
    docker/login-action, docker/setup-qemu-action (Debian's QEMU, registered by the bootstrap),
    sigstore/cosign-installer (the bootstrap's cosign), and actions/upload-artifact and download-artifact (a
    folder per act run)."""

    def __init__(self, cookies, hub, act_runner, docker_env, project=None, **answers):  # pylint: disable=too-many-arguments
        self.act_runner = act_runner
        self.docker_env = docker_env
        # What the runner has besides: trust in the stand-in's certificate (cosign), the cosign to install.
        self.runner_env = docker_env | hub.client_env | {"TRACKER_CI_COSIGN_DIR": str(COSIGN_DIR)}
        self.namespace = unique_name("team").replace("-", "")
        registry_host = answers.get("registry", "docker.io")
        self.registry = hub.registry(registry_host)
        self.path = project or bake(cookies, image_namespace=self.namespace, **answers)
        # The branch GitHub calls the default one; the scenario's commits are on the local main, pushed to it.
        self.default_branch = answers.get("default_branch", DEFAULT_ANSWERS["default_branch"])
        self.repository = f"{self.namespace}/{self.path.name}"
        self.image = f"{registry_host}/{self.repository}"
        self.sha = git_commit(self.path, "Initial commit")
        self.compose_projects: set[str] = set()  # those its runs made, each named for one call of the action
        # As in a real checkout; act names github.repository after it (it is never contacted).
        run(["git", "remote", "add", "origin", f"https://github.com/acme/{self.path.name}.git"], cwd=self.path)

    def run(  # pylint: disable=too-many-arguments
        self, event, password=None, ref=None, more_secrets=None, variables=None, workflow=None
    ):
        """Runs the workflow (the template's, or the file WORKFLOW names) for an event: a push of REF (the default branch
        unless given) or a pull request to the default branch."""
        branch = self.default_branch
        repository = {"default_branch": branch, "full_name": f"acme/{self.path.name}", "name": self.path.name}
        payload = {"repository": repository | REPOSITORY_FACTS}
        if event == "push":
            payload["ref"] = ref or f"refs/heads/{branch}"
        else:
            payload["pull_request"] = {"number": 7, "head": {"ref": "feature"}, "base": {"ref": branch}}
        registry = self.registry if password is None else replace(self.registry, password=password)
        # GitHub's default branch is the local main, as after `git push origin main:<branch>`; a full-history
        # checkout (fetch-depth: 0, the release check's) names it origin/<branch>. act copies the repository, .git
        # included, for a checkout.
        run(["git", "update-ref", f"refs/remotes/origin/{branch}", "refs/heads/main"], cwd=self.path)
        result = self.act_runner.run(
            self.path,
            event,
            payload=payload,
            secrets_=REGISTRY_SECRETS[self.registry.host](registry) | (more_secrets or {}),
            variables=variables,
            actor=self.registry.username,
            env=self.runner_env,
            workflow=workflow,
        )
        outputs = _outputs(result.log)
        # The Compose project of each job's call of the action (validate.sh names one per call), or Compose's
        # default, the folder's name, for the inline workflow.
        projects = set(re.findall(r"::set-output:: compose-project=(\S+)", result.log))
        left = {project: compose_leftovers(project) for project in projects or {self.path.name}}
        assert [project for project, leftovers in left.items() if leftovers] == [], f"the workflow left {left}"
        self.compose_projects |= projects
        return result, outputs

    def use_engine(self, docker_host: str) -> None:
        """Runs the workflow on another engine from now on (a fresh runner's own: testkit/engine.py)."""
        self.runner_env = self.runner_env | {"DOCKER_HOST": docker_host}

    def local_tags(self) -> list[str]:
        """The tags the run left on this engine for the scenario's image (Docker lists Hub names short)."""
        listing = ["docker", "images", "--format", "{{.Repository}}:{{.Tag}}", "--filter", f"reference={self.listed}"]
        return [tag for tag in run(listing).stdout.split() if not tag.endswith(":<none>")]

    @property
    def listed(self) -> str:
        """The image's name as Docker lists it (Hub names short), for its reference filter."""
        return self.repository if self.registry.host == "docker.io" else self.image


# The platform of the scenarios that test something else than platforms: the default answer, both platforms, is
# the subject of its own test; every other scenario would build and test arm64 under QEMU again, for nothing.
ONE_PLATFORM = {"platforms": "linux/amd64"}


@pytest.fixture
def scenario_for(cookies, stand_in_hub, act_runner, docker_config):
    """Makes act scenarios of given answers, amd64 alone unless platforms are given (ONE_PLATFORM); removes the
    images their runs left on the engine: the registry tags of their pushes and what their Compose projects built."""
    made = []

    def make(**answers):
        made.append(ActScenario(cookies, stand_in_hub, act_runner, docker_config, **(ONE_PLATFORM | answers)))
        return made[-1]

    yield make
    # The images the runs pushed, and those their Compose projects built (names of their own: no other test's)
    built = (f"{project}-*" for scenario in made for project in scenario.compose_projects)
    remove_images(*(scenario.listed for scenario in made), *built)


@pytest.fixture
def scenario(scenario_for):
    """The default answers but amd64 alone: Docker Hub, the tracker-ci action."""
    return scenario_for()


def _cosign_secrets(folder) -> tuple:
    """A cosign key pair, and its private key and password as the publish environment's secrets."""
    keys = generate_key_pair(folder, secrets.token_urlsafe(12))
    return keys, {"COSIGN_PRIVATE_KEY": keys.private_key, "COSIGN_PASSWORD": keys.password}


@pytest.mark.act
@pytest.mark.parametrize(
    "answers",
    [
        # push.sh's digest (the manifest's on the containerd store, the config's on the classic one) and the cache
        # kind (registry or inline) depend on the image store; GHCR's push is Docker Hub's but for the login.
        pytest.param({}, id="docker-hub", marks=pytest.mark.image_store),
        # ... and a default branch of another name: the workflow publishes from the branch the answer names.
        pytest.param({"registry": "ghcr.io", "default_branch": "trunk"}, id="ghcr-github-token-trunk"),
        # The tutorial's own steps, with docker/login-action (its stand-in, see ActScenario).
        pytest.param({"ci": "inline"}, id="inline-workflow", marks=pytest.mark.image_store),
    ],
)
def test_should_push_exactly_the_tested_image_on_a_push_to_the_default_branch(scenario_for, answers):
    # Given
    scenario = scenario_for(**answers)
    sha = scenario.sha

    # When
    result, outputs = scenario.run("push")

    # Then: the action also writes the layer cache; the inline steps have neither cache nor outputs
    assert result.exit_code == 0, result.log[-5000:]
    cache = ["buildcache-linux-amd64"] if answers.get("ci") != "inline" else []  # one platform's cache
    assert scenario.registry.tags(scenario.repository) == sorted([sha, "latest", *cache])
    if answers.get("ci") != "inline":
        assert outputs["pushed"] == "true"
        _assert_digest_is_the_registrys_of_every_tag(scenario, outputs, [sha, "latest"])
    _assert_pulled_image_is_tested_image_and_counts(scenario, f"{scenario.image}:{sha}", outputs["image-id"])


def _assert_digest_is_the_registrys_of_every_tag(scenario, outputs, tags):
    """The digest output is what the registry serves for each pushed tag; on the containerd image store, where an
    image ID is its manifest's digest, it is also the tested image's ID."""
    assert {tag: scenario.registry.manifest_digest(scenario.repository, tag) for tag in tags} == dict.fromkeys(
        tags, outputs["digest"]
    )
    if engine_image_store() == "containerd":
        assert outputs["digest"] == outputs["image-id"]


@pytest.mark.act
def test_should_publish_a_release_tag_as_its_versions_signed_with_oci_labels(scenario, tmp_path):
    # Given: a cosign key pair, its private key and password in the publish environment's secrets
    keys, signing = _cosign_secrets(tmp_path / "keys")

    # When
    result, outputs = scenario.run("push", ref="refs/tags/v1.2.3", more_secrets=signing)

    # Then: the version tags and never latest, on the image that was tested, labelled when it was built (and the
    # signature, which cosign stores under the tag that names the signed digest, sha256-<hex>)
    assert result.exit_code == 0, result.log[-5000:]
    assert f"Release tag v1.2.3: commit {scenario.sha} is on main." in result.log
    signature_tag = outputs["digest"].replace(":", "-")
    assert scenario.registry.tags(scenario.repository) == sorted([scenario.sha, "1.2.3", "1.2", "1", signature_tag])
    _assert_digest_is_the_registrys_of_every_tag(scenario, outputs, [scenario.sha, "1.2.3", "1.2", "1"])
    # ... the release signed: what a user verifies, its version tag and its digest
    env = _logged_in_config(scenario, tmp_path / "verifier")
    for reference in (f"{scenario.image}:1.2.3", f"{scenario.image}@{outputs['digest']}"):
        verified, output = verify(reference, keys.public_key, env)
        assert verified, (reference, output)
    ref = f"{scenario.image}:1.2.3"
    _assert_pulled_image_is_tested_image_and_counts(scenario, ref, outputs["image-id"], keep=True)
    try:
        labels = json.loads(run(["docker", "image", "inspect", "--format", "{{json .Config.Labels}}", ref]).stdout)
    finally:
        run(["docker", "rmi", ref], check=False)
    prefix = "org.opencontainers.image."
    assert labels[f"{prefix}version"] == "1.2.3"
    assert labels[f"{prefix}revision"] == scenario.sha
    assert labels[f"{prefix}title"] == scenario.path.name
    assert labels[f"{prefix}description"] == REPOSITORY_FACTS["description"]
    assert labels[f"{prefix}licenses"] == "MIT"
    assert labels[f"{prefix}source"].endswith(f"/acme/{scenario.path.name}"), labels


def _build_step_states(log: str, instruction_part: str) -> list[str]:
    """How BuildKit ran the step whose instruction holds that text in each build of the log (`#9 [builder 5/8] RUN ...`
    then `#9 CACHED` or `#9 DONE 12.3s`; every build numbers its steps from #1 again), in the log's order."""
    states = []
    for build in re.split(r"#1 \[internal\] ", log)[1:]:
        # BuildKit prints a step's title again when its output resumes: each step once.
        for step in dict.fromkeys(re.findall(r"#(\d+) \[[^\]]+\] [^\n]*" + re.escape(instruction_part), build)):
            done = re.search(rf"#{step} (CACHED|DONE)\b", build)
            states.append({"CACHED": "CACHED", "DONE": "RAN"}[done.group(1)] if done else "?")
    return states


# uv's binary and the locked dependencies (`uv sync --no-install-project`, one layer of the builder stage, under
# the test image and the release venv alike).
@pytest.mark.act
def test_should_publish_nothing_from_a_release_tag_on_a_commit_that_is_not_on_the_default_branch(scenario):
    # Given: a commit on a branch that never reached main (never reviewed), and a release tag on it
    run(["git", "checkout", "--quiet", "-b", "unreviewed"], cwd=scenario.path)
    change_code_only(scenario.path, "A change that no one reviewed.")
    sha = git_commit(scenario.path, "An unreviewed change")

    # When
    result, _ = scenario.run("push", ref="refs/tags/v6.6.6")

    # Then: refused with the way out, before any job had the registry's secrets: nothing built, logged in or pushed
    assert result.exit_code != 0
    assert f"release tag v6.6.6 is on commit {sha}, which is not on main" in result.log, result.log[-5000:]
    assert "tag a commit of main" in result.log
    assert "Build images" not in result.log and "Login Succeeded" not in result.log
    assert scenario.registry.tags(scenario.repository) == []


def _index_entries(registry, repository, tag) -> tuple[dict, dict]:
    """The platforms' manifests of the index TAG names ({"linux/arm64": digest}), and the attestation manifest of
    each image manifest ({image digest: attestation digest})."""
    images, attestations = {}, {}
    for entry in registry.manifest(repository, tag)["manifests"]:
        annotations = entry.get("annotations", {})
        if annotations.get("vnd.docker.reference.type") == "attestation-manifest":
            attestations[annotations["vnd.docker.reference.digest"]] = entry["digest"]
        else:
            images[f"{entry['platform']['os']}/{entry['platform']['architecture']}"] = entry["digest"]
    return images, attestations


def _provenance(registry, repository, attestation_digest) -> dict:
    """The SLSA provenance predicate of an attestation manifest, read from the registry."""
    for layer in registry.manifest(repository, attestation_digest)["layers"]:
        if layer.get("annotations", {}).get("in-toto.io/predicate-type", "").startswith("https://slsa.dev/provenance/"):
            return json.loads(registry.blob(repository, layer["digest"]))["predicate"]
    raise AssertionError(f"no provenance in attestation {attestation_digest}")


def _logged_in_config(scenario, folder) -> dict:
    """An environment whose Docker config is logged in to the scenario's registry, and which trusts it."""
    env = scenario.runner_env | {"DOCKER_CONFIG": str(folder)}
    login = ["docker", "login", scenario.registry.host, "-u", scenario.registry.username, "--password-stdin"]
    run(login, input=scenario.registry.password, env=env)
    return env


@pytest.mark.act
@pytest.mark.image_store
def test_should_push_one_signed_attested_index_of_platforms_each_tested_end_to_end(
    scenario_for, cookies, tmp_path, tiny_image
):
    # Given: the default answers but both platforms in one job, arm64 under QEMU (for runners without arm64), and a
    # cosign key pair: its private key and password in the publish environment's secrets
    scenario = scenario_for(platforms="linux/amd64,linux/arm64", arm64_runner="qemu")
    keys, signing = _cosign_secrets(tmp_path / "keys")

    # When
    result, outputs = scenario.run("push", more_secrets=signing)

    # Then, on the classic image store (ubuntu-24.04): refused before any build, with the way out
    if engine_image_store() == "classic":
        assert result.exit_code != 0
        assert "need the containerd image store" in result.log
        assert "Build images" not in result.log
        assert scenario.registry.tags(scenario.repository) == []
        return
    # ... on the containerd store: one index, exactly the two platforms, each manifest the one tested end to end
    assert result.exit_code == 0, result.log[-6000:]
    assert outputs["tested-platforms"] == "linux/amd64,linux/arm64"
    images, attestations = _index_entries(scenario.registry, scenario.repository, scenario.sha)
    assert sorted(images) == ["linux/amd64", "linux/arm64"]
    for platform, digest in images.items():
        assert f"End-to-end tests passed on {platform} against image {outputs['image-id']} (manifest {digest})" in (
            result.log
        )
    _assert_digest_is_the_registrys_of_every_tag(scenario, outputs, [scenario.sha, "latest"])
    # ... each with a provenance attestation naming the commit and the workflow run that built it
    assert sorted(attestations) == sorted(images.values())
    for attestation in attestations.values():
        provenance = _provenance(scenario.registry, scenario.repository, attestation)
        assert provenance["invocation"]["parameters"]["args"]["label:org.opencontainers.image.revision"] == scenario.sha
        assert provenance["builder"]["id"].startswith(f"https://github.com/acme/{scenario.path.name}/actions/runs/")
    # ... signed: the signature verifies with the public key, for the pushed tag and digest
    assert outputs["signed"] == "true"
    env = _logged_in_config(scenario, tmp_path / "verifier")
    for reference in (f"{scenario.image}:{scenario.sha}", f"{scenario.image}@{outputs['digest']}"):
        verified, output = verify(reference, keys.public_key, env)
        assert verified, output
    # ... and neither for another key nor for another image under the tag
    other_keys = generate_key_pair(tmp_path / "other-keys", secrets.token_urlsafe(12))
    assert not verify(f"{scenario.image}:{scenario.sha}", other_keys.public_key, env)[0]
    tampered = f"{scenario.image}:latest"
    run(["docker", "tag", tiny_image, tampered])
    run(["docker", "push", "--quiet", tampered], env=env)
    run(["docker", "rmi", tampered])
    verified, output = verify(tampered, keys.public_key, env)
    assert not verified and "no signatures found" in output.lower(), output
    assert keys.password not in result.log and keys.private_key.splitlines()[1] not in result.log
    # ... the deploy job's check (deploy: swarm, with COSIGN_PUBLIC_KEY set) passes the pushed digest only
    check = deploy_signature_check(bake(cookies, deploy="swarm"))
    check_env = env | {"COSIGN_PUBLIC_KEY": keys.public_key.read_text(encoding="utf-8"),
                       "PATH": f"{COSIGN_DIR}:{env['PATH']}"}  # fmt: skip
    tampered_digest = scenario.registry.manifest_digest(scenario.repository, "latest")
    for digest, signed in ((outputs["digest"], True), (tampered_digest, False)):
        image = f"{scenario.image}@{digest}"
        assert (run(["bash", "-c", check], env=check_env | {"IMAGE": image}, check=False).returncode == 0) is signed
    # (A pull request of both platforms, tested and pushing nothing: the default answers' test, whose pull-request job
    # runs the same action with both platforms, one per job; pushing nothing on a pull request is validate.sh's one
    # decision, whatever the platforms.)


def _job_outputs(log: str, job_name: str) -> dict:
    """The step outputs of one job of the log (act prefixes each line with `[<workflow>/<job name>]`)."""
    return _outputs("\n".join(line for line in log.splitlines() if f"/{job_name}" in line.split("]", 1)[0]))


MERGE_JOB = "Merge the tested platforms into one tagged, signed index"


def _break_the_served_app_on_arm64_alone(project) -> None:
    """A commit whose served app counts one too many on arm64 alone: the runtime stage patches the installed app where
    the target is arm64, as a platform-specific step of the last stage can. The gates, which ran in the builder, never
    see it; only arm64's end-to-end tests can. The builder's layers stay as built, so no gate runs again under QEMU."""
    dockerfile = project / "web" / "Dockerfile"
    source = dockerfile.read_text(encoding="utf-8")
    runtime_user = re.findall(r"^USER (\S+)$", source, flags=re.MULTILINE)[-1]
    dockerfile.write_text(
        source
        + "USER root\nARG TARGETARCH\n"
        + 'RUN if [ "$TARGETARCH" = arm64 ]; then sed -i "s/{page_views} times/{page_views + 1} times/" '
        + "/home/app/.venv/lib/python3*/site-packages/*/app.py; fi\n"
        + f"USER {runtime_user}\n",
        encoding="utf-8",
    )
    git_commit(project, "Count one too many on arm64")


@pytest.mark.act
@pytest.mark.image_store
def test_should_test_each_platform_in_its_own_job_then_merge_tag_and_sign_exactly_those(scenario_for, tmp_path):
    # Given: the default answers: both platforms, each in a job on a runner of its own (the arm64 runner's label
    # mapped to this host, its image under QEMU, the stand-in for a native runner: testkit/act.py); a cosign key pair
    assert (DEFAULT_ANSWERS["platforms"], DEFAULT_ANSWERS["arm64_runner"]) == ("linux/amd64,linux/arm64", "native")
    scenario = scenario_for(platforms=DEFAULT_ANSWERS["platforms"])
    keys, signing = _cosign_secrets(tmp_path / "keys")

    # When
    result, _ = scenario.run("push", more_secrets=signing)

    # Then, on the classic image store (ubuntu-24.04): each platform's job refused before any build, nothing pushed
    if engine_image_store() == "classic":
        assert result.exit_code != 0
        assert "push-by-digest needs the containerd image store" in result.log
        assert scenario.registry.tags(scenario.repository) == []
        return
    # ... on the containerd store: one index of exactly the two platforms, each manifest the one its job tested
    assert result.exit_code == 0, result.log[-6000:]
    merged = _job_outputs(result.log, MERGE_JOB)
    images, attestations = _index_entries(scenario.registry, scenario.repository, "latest")
    assert sorted(images) == ["linux/amd64", "linux/arm64"]
    for platform, digest in images.items():
        assert re.search(rf"End-to-end tests passed on {platform} against image sha256:[0-9a-f]{{64}} \(manifest {digest}\)",
                         result.log), platform  # fmt: skip
    tags = [scenario.sha, "latest"]
    assert {tag: scenario.registry.manifest_digest(scenario.repository, tag) for tag in tags} == dict.fromkeys(
        tags, merged["digest"]
    )
    assert sorted(attestations) == sorted(images.values())
    # ... signed: the index's signature verifies with the public key
    assert merged["signed"] == "true"
    env = _logged_in_config(scenario, tmp_path / "verifier")
    verified, output = verify(f"{scenario.image}@{merged['digest']}", keys.public_key, env)
    assert verified, output
    tags = scenario.registry.tags(scenario.repository)

    # When: a pull request
    pull_request, _ = scenario.run("pull_request", more_secrets=signing)

    # Then: both platforms tested, nothing pushed or signed
    assert pull_request.exit_code == 0, pull_request.log[-6000:]
    for platform in images:
        assert f"End-to-end tests passed on {platform}" in pull_request.log
    assert "pushed=true" not in pull_request.log and "Signed " not in pull_request.log
    assert scenario.registry.tags(scenario.repository) == tags

    # When: a commit whose served app is wrong on arm64 alone (every gate passes)
    _break_the_served_app_on_arm64_alone(scenario.path)
    broken, _ = scenario.run("push", more_secrets=signing)

    # Then: arm64's end-to-end tests failed, so no tag moved and nothing was signed
    assert broken.exit_code != 0
    assert "end-to-end tests failed on linux/arm64" in broken.log, broken.log[-6000:]
    assert "End-to-end tests passed on linux/amd64" in broken.log
    assert MERGE_JOB not in "".join(line for line in broken.log.splitlines() if "Success" in line)
    assert scenario.registry.tags(scenario.repository) == tags
    assert scenario.registry.manifest_digest(scenario.repository, "latest") == merged["digest"]


def _assert_pulled_image_is_tested_image_and_counts(scenario, ref, tested_image_id, keep=False):
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
        if not keep:
            run(["docker", "rmi", ref], check=False)


@pytest.mark.act
@pytest.mark.parametrize("ci", ["action", "inline"])
def test_should_test_but_never_log_in_push_or_deploy_on_a_pull_request(scenario_for, ci):
    # Given: a project that deploys to Docker Swarm from CI (the action workflow) or by hand (inline)
    scenario = scenario_for(ci=ci, deploy="swarm")
    production = {"DEPLOY_SSH_KEY": "never-read-key", "DEPLOY_SSH_TARGET": "root@127.0.0.1:1"}

    # When: act hands the secrets to every run; only the pull-request job runs, and it reads none
    result, outputs = scenario.run("pull_request", more_secrets=production)

    # Then
    assert result.exit_code == 0, result.log[-5000:]
    assert "2 passed" in result.log
    assert outputs.get("e2e-exit-code", "0") == "0"
    assert "Log in to" not in result.log and "Login Succeeded" not in result.log
    assert "Deploy the pushed image" not in result.log and "deploy: " not in result.log
    assert scenario.registry.tags(scenario.repository) == []
    assert scenario.local_tags() == []


@pytest.mark.act
@pytest.mark.image_store  # what the failed run leaves in the registry: a layer cache on the containerd store only
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
    assert re.search(r"end-to-end tests failed on linux/\w+: test-service exited 1", result.log)
    assert "Log of web-service" in result.log and "Booting worker" in result.log
    assert "Log of redis-service" in result.log and "Ready to accept connections" in result.log
    # (a registry cache, written on the containerd store by the build whose gates passed, is no image)
    layer_cache = ["buildcache-linux-amd64"] if engine_image_store() == "containerd" else []
    assert scenario.registry.tags(scenario.repository) == layer_cache


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


@pytest.mark.act
@pytest.mark.swarm
def test_should_deploy_the_pushed_digest_to_the_swarm_over_ssh_after_a_push_to_the_default_branch(scenario_for, swarm):
    # Given: a project with deploy=swarm, the production environment's secrets for the test swarm's manager
    scenario = scenario_for(deploy="swarm")
    swarm.mirror(*base_images(deploy="swarm"))
    key = swarm.ssh_key.read_text(encoding="utf-8")
    production = {
        "DEPLOY_SSH_KEY": key,
        "DEPLOY_SSH_KNOWN_HOSTS": swarm.known_hosts(),
        "DEPLOY_SSH_TARGET": swarm.ssh_target,
        "REDIS_PASSWORD": secrets.token_urlsafe(24),
    }

    # When
    result, outputs = scenario.run("push", more_secrets=production)
    stack = derived("__package_name")  # deploy.sh's default stack name

    # Then: the deploy job ran after the push and the swarm runs exactly the pushed digest, through the proxy
    try:
        assert result.exit_code == 0, result.log[-6000:]
        assert f"deploy: stack {stack} converged" in result.log
        deployed = swarm.manager.docker(
            "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", f"{stack}_web-service"
        ).stdout.strip()
        assert deployed == f"{scenario.listed}@{outputs['digest']}"  # the CLI names Hub images short
        wait_for_the_edge(swarm)
        answer = requests.get(f"http://{swarm.nodes[1].address}/", timeout=5)
        assert answer.text == "This page has been seen 1 times."
        assert key.splitlines()[1] not in result.log
        assert production["REDIS_PASSWORD"] not in result.log
    finally:
        swarm.remove_stack(stack)


def _deploy_job_alone(scenario, image: str, deploy_command: str | None = None) -> None:
    """Rewrites the scenario's workflow to its deploy job alone, steps and their conditions as generated, started by
    a push and deploying IMAGE as if the publish job had pushed it (at most 20 s of waiting for the swarm);
    DEPLOY_COMMAND, when given, replaces the command of the step that deploys (for a test without a swarm)."""
    path = scenario.path / ".github" / "workflows" / "ci.yml"
    workflow = yaml.safe_load(path.read_text(encoding="utf-8"))
    job = workflow["jobs"]["deploy"]
    job.pop("needs", None), job.pop("if", None)  # (gone already when the scenario ran it alone before)
    job["env"] |= {"IMAGE": image, "DEPLOY_TIMEOUT": "20"}
    if deploy_command:
        step = next(step for step in job["steps"] if step["name"] == "Deploy and wait until the stack has converged")
        step["run"] = deploy_command
    # (YAML 1.1 reads the key `on` as true)
    rewritten = {
        "name": workflow["name"],
        "on": "push",
        "permissions": workflow["permissions"],
        "jobs": {"deploy": job},
    }
    path.write_text(yaml.safe_dump(rewritten, sort_keys=False), encoding="utf-8")
    git_commit(scenario.path, f"The deploy job alone, deploying {image}")


@pytest.mark.act
def test_should_deploy_only_a_digest_signed_with_the_repository_key(scenario_for, tiny_image, tmp_path):
    # Given: the deploy job (its deploy command an echo: no swarm) with the repository variable COSIGN_PUBLIC_KEY
    # set; one digest signed with its private key, one not. The stand-in Docker Hub wants a login for every pull
    # (Docker Hub lets anyone pull a public image), so the runner is logged in.
    scenario = scenario_for(deploy="swarm")
    keys = generate_key_pair(tmp_path / "keys", secrets.token_urlsafe(12))
    env = _logged_in_config(scenario, scenario.runner_env["DOCKER_CONFIG"])
    run(["docker", "build", "--quiet", "--tag", f"{scenario.image}:unsigned", "-"],
        input=f"FROM {tiny_image}\nLABEL signed=no\n")  # fmt: skip
    run(["docker", "tag", tiny_image, f"{scenario.image}:signed"])
    for tag in ("signed", "unsigned"):
        run(["docker", "push", "--quiet", f"{scenario.image}:{tag}"], env=env)
    digests = {tag: scenario.registry.manifest_digest(scenario.repository, tag) for tag in ("signed", "unsigned")}
    sign(scenario.image, digests["signed"], keys, env)
    variables = {"COSIGN_PUBLIC_KEY": keys.public_key.read_text(encoding="utf-8")}

    for tag, deployed in (("unsigned", False), ("signed", True)):
        image = f"{scenario.image.lower()}@{digests[tag]}"
        _deploy_job_alone(scenario, image, deploy_command='echo "deploy: would deploy $IMAGE"')

        # When: act evaluates each step's condition as GitHub does
        result, _ = scenario.run("push", variables=variables)

        # Then: the signature check ran, and only the signed digest reached the deploy step
        assert "Verify the image's signature" in result.log, result.log[-3000:]
        assert (result.exit_code == 0) is deployed, (tag, result.log[-3000:])
        assert (f"deploy: would deploy {image}" in result.log) is deployed, (tag, result.log[-3000:])


@pytest.mark.act
@pytest.mark.swarm
def test_should_send_nothing_to_a_manager_whose_host_key_is_not_the_known_one(scenario_for, swarm, tmp_path):
    # Given: the deploy job with the production secrets, but a known host key for the manager's address that the
    # manager does not hold (whoever answers there is not the manager)
    scenario = scenario_for(deploy="swarm")
    _deploy_job_alone(scenario, f"{scenario.image.lower()}@sha256:{'0' * 64}")
    impostor = tmp_path / "impostor"
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", impostor])
    known_host = swarm.known_hosts().split()[0]
    impostor_key = " ".join(impostor.with_suffix(".pub").read_text(encoding="utf-8").split()[:2])
    production = {
        "DEPLOY_SSH_KEY": swarm.ssh_key.read_text(encoding="utf-8"),
        "DEPLOY_SSH_KNOWN_HOSTS": f"{known_host} {impostor_key}\n",
        "DEPLOY_SSH_TARGET": swarm.ssh_target,
        "REDIS_PASSWORD": secrets.token_urlsafe(24),
    }
    manager_state = ("secret", "ls", "--format", "{{.Name}}"), ("service", "ls", "--format", "{{.Name}}")
    before = [swarm.manager.docker(*listing).stdout for listing in manager_state]
    stack = derived("__package_name")

    # When
    try:
        result, _ = scenario.run("push", more_secrets=production)
    finally:
        if f"{stack}_web-service" in swarm.manager.docker(*manager_state[1]).stdout.split():
            swarm.remove_stack(stack)

    # Then: ssh refused the host, and the manager got no secret and no service
    assert result.exit_code != 0
    assert "Host key verification failed" in result.log, result.log[-3000:]
    assert [swarm.manager.docker(*listing).stdout for listing in manager_state] == before
    assert production["REDIS_PASSWORD"] not in result.log


# The dependencies' install, and the first gate, in BuildKit's log of the build.
DEPENDENCY_STEP = "uv sync --locked --no-install-project"
GATE_STEP = "RUN python -m pytest test/unit/"


@pytest.mark.act
@pytest.mark.image_store  # a registry cache on the containerd store, the inline cache on the classic one
def test_should_build_the_dependencies_from_the_default_branch_cache_on_a_fresh_runner(scenario_for, tmp_path):
    # Given: a first push to the default branch on a fresh runner: an engine of its own, as each GitHub job gets,
    # with only the base images (testkit/engine.py), building from a cache that does not exist yet: a cold build,
    # not an error. The engine the rest of the suite shares keeps its build cache.
    scenario = scenario_for()
    base_images = [derived("__python_image"), derived("__uv_image"), derived("__redis_image")]
    with journaled_engine(tmp_path / "runner", base_images, engine_image_store()) as runner_engine:
        scenario.use_engine(runner_engine)
        first, _ = scenario.run("push")
        assert first.exit_code == 0, first.log[-5000:]
        # (one build of both images: the dependencies installed once; BuildKit may list the shared step again)
        assert _build_step_states(first.log, DEPENDENCY_STEP).count("RAN") == 1, first.log[-8000:]

        for commit in ("second", "third"):  # the third reads the cache that a cache-fed build wrote
            # ... a new commit that changes only the code, on a runner fresh again: the engine emptied of all
            # but the base images
            change_code_only(scenario.path, f"A change of code only, for the {commit} commit.")
            sha = git_commit(scenario.path, f"Change the code only ({commit} commit)")
            empty_engine_but_base_images(scenario.listed)

            # When
            result, outputs = scenario.run("push")

            # Then: the build (published and test image) took the dependency layers from the registry, ran the
            # gates again on the new code, once, and the tested image went out with a fresh cache
            assert result.exit_code == 0, result.log[-5000:]
            assert set(_build_step_states(result.log, DEPENDENCY_STEP)) == {"CACHED"}, (commit, result.log[-8000:])
            assert _build_step_states(result.log, GATE_STEP).count("RAN") == 1, (commit, result.log[-8000:])
            assert outputs["digest"] == scenario.registry.manifest_digest(scenario.repository, sha)


# The reusable workflow (.github/workflows/pipeline.yml), called as the README shows. act reads it, as it reads the
# action, from this repository through --local-repository (testkit/act.py): on GitHub the call downloads it at its ref.
README = REPO_ROOT / "README.md"
PIPELINE_JOB = "Build, test end to end and push by digest (linux/amd64)"
PULL_REQUEST_JOB = "Build and test end to end (linux/amd64)"


def _readme_caller(scenario, **more_inputs) -> str:
    """The README's call of the reusable workflow, as a user copies it into the scenario's project: its image the
    scenario's, with more inputs after it; returns the workflow's path in the project."""
    block = fenced_blocks(README.read_text(encoding="utf-8"), "## Use the action in any repository", "yaml")[0]
    image_line = "      image: your-user/page-tracker\n"
    assert image_line in block, block
    inputs = [
        f"      image: {scenario.repository}\n",
        *(f"      {name}: {value}\n" for name, value in more_inputs.items()),
    ]
    workflow = scenario.path / ".github" / "workflows" / "caller.yml"
    workflow.parent.mkdir(parents=True, exist_ok=True)
    workflow.write_text(block.replace(image_line, "".join(inputs)), encoding="utf-8")
    git_commit(scenario.path, "Call the tracker-ci pipeline")
    return str(workflow.relative_to(scenario.path))


# A repository not made from the template: a Compose project in a folder of its own, with its own file, profile and
# service names, and a Compose secret that no checkout has (the caller's throwaway-secrets makes it per job).
OWN_LAYOUT = {
    "working-directory": "services/greeter",
    "compose-file": "compose.yaml",
    "test-profile": "e2e",
    "test-service": "e2e-tests",
    "publish-service": "api",
    "throwaway-secrets": "secrets/greeting",
}
OWN_COMPOSE = """\
services:
  api:
    build: ./api
    secrets: [greeting]
    healthcheck:
      test: ["CMD", "python", "-c", "import urllib.request; urllib.request.urlopen('http://localhost:8000/')"]
      interval: 1s
      retries: 30
  e2e-tests:
    image: {python_image}
    profiles: [e2e]
    depends_on:
      api:
        condition: service_healthy
    secrets: [greeting]
    command:
      - python
      - -c
      - |
        import urllib.request
        answer = urllib.request.urlopen("http://api:8000/").read()
        assert answer == open("/run/secrets/greeting", "rb").read(), answer
        print("the api answered with the greeting")
secrets:
  greeting:
    file: ./secrets/greeting
"""
OWN_SERVER = """\
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class Greeter(BaseHTTPRequestHandler):
    def do_GET(self):
        with open("/run/secrets/greeting", "rb") as secret:
            greeting = secret.read()
        self.send_response(200)
        self.end_headers()
        self.wfile.write(greeting)


ThreadingHTTPServer(("", 8000), Greeter).serve_forever()
"""


def _project_of_its_own(folder):
    """A repository of OWN_LAYOUT: an HTTP service that answers with its secret, and a test service that checks it."""
    project = folder / OWN_LAYOUT["working-directory"]
    (project / "api").mkdir(parents=True)
    (project / OWN_LAYOUT["compose-file"]).write_text(
        OWN_COMPOSE.format(python_image=derived("__python_image")), encoding="utf-8"
    )
    (project / "api" / "server.py").write_text(OWN_SERVER, encoding="utf-8")
    (project / "api" / "Dockerfile").write_text(
        f'FROM {derived("__python_image")}\nCOPY server.py /srv/\nCMD ["python", "/srv/server.py"]\n', encoding="utf-8"
    )
    (folder / ".gitignore").write_text("secrets/\n", encoding="utf-8")
    return folder


def _assert_one_signed_index_of_the_tested_amd64_image(scenario, result, sha, public_key, verifier_folder):
    """What a push through the reusable workflow for linux/amd64 promises: the run passed; the platform's image, tested
    end to end, pushed by digest with its attestation; one index of exactly it under the commit and latest, signed."""
    assert result.exit_code == 0, result.log[-6000:]
    merged = _job_outputs(result.log, MERGE_JOB)
    images, attestations = _index_entries(scenario.registry, scenario.repository, "latest")
    assert list(images) == ["linux/amd64"] and sorted(attestations) == list(images.values())
    tested = rf"End-to-end tests passed on linux/amd64 against image sha256:[0-9a-f]{{64}} \(manifest {images['linux/amd64']}\)"
    assert re.search(tested, result.log), result.log[-6000:]
    tags = [sha, "latest"]
    assert {tag: scenario.registry.manifest_digest(scenario.repository, tag) for tag in tags} == dict.fromkeys(
        tags, merged["digest"]
    )
    assert merged["signed"] == "true"
    verified, output = verify(f"{scenario.image}@{merged['digest']}", public_key,
                              _logged_in_config(scenario, verifier_folder))  # fmt: skip
    assert verified, output


@pytest.mark.act
def test_should_push_one_signed_index_of_the_tested_platforms_from_the_readmes_call_of_the_pipeline(
    scenario_for, tmp_path
):
    # Given: a project whose workflow is the README's call of the reusable workflow, with one platform (the template's
    # default answers build arm64 in their own test) and the Redis password the project's Compose file reads made per
    # job; a cosign key pair
    scenario = scenario_for()
    workflow = _readme_caller(scenario, platforms="linux/amd64", **{"throwaway-secrets": "secrets/redis-password"})
    sha = run(["git", "rev-parse", "HEAD"], cwd=scenario.path).stdout.strip()
    keys, signing = _cosign_secrets(tmp_path / "keys")

    # When: a push to the default branch
    result, _ = scenario.run("push", more_secrets=signing, workflow=workflow)

    # Then: the platform's tested image pushed by digest, then one index of exactly it, under the commit and latest,
    # signed
    _assert_one_signed_index_of_the_tested_amd64_image(scenario, result, sha, keys.public_key, tmp_path / "verifier")
    pushed = scenario.registry.tags(scenario.repository)

    # When: a pull request
    pull_request, _ = scenario.run("pull_request", more_secrets=signing, workflow=workflow)

    # Then: the platform tested in the job that has no secret, nothing logged in to, pushed or signed
    assert pull_request.exit_code == 0, pull_request.log[-6000:]
    assert _job_outputs(pull_request.log, PULL_REQUEST_JOB)["push"] == "false"
    assert "End-to-end tests passed on linux/amd64" in pull_request.log
    assert f"/{PIPELINE_JOB}]" not in pull_request.log and f"/{MERGE_JOB}]" not in pull_request.log
    assert "docker-config=" not in pull_request.log and "pushed=true" not in pull_request.log
    assert scenario.registry.tags(scenario.repository) == pushed


@pytest.mark.act
def test_should_push_one_signed_index_of_a_compose_project_not_made_from_the_template(scenario_for, tmp_path):
    # Given: a repository with only a Compose project of its own layout, whose workflow is the README's call of the
    # reusable workflow with that layout's inputs; a cosign key pair
    scenario = scenario_for(project=_project_of_its_own(tmp_path / "greeter"))
    workflow = _readme_caller(scenario, platforms="linux/amd64", **OWN_LAYOUT)
    sha = run(["git", "rev-parse", "HEAD"], cwd=scenario.path).stdout.strip()
    keys, signing = _cosign_secrets(tmp_path / "keys")

    # When: a push to the default branch
    result, _ = scenario.run("push", more_secrets=signing, workflow=workflow)

    # Then: its own test service passed against the image then pushed, in one signed index under the commit and latest
    _assert_one_signed_index_of_the_tested_amd64_image(scenario, result, sha, keys.public_key, tmp_path / "verifier")
    assert "the api answered with the greeting" in result.log


@pytest.mark.act
def test_should_refuse_a_platform_without_a_runner_before_any_job_builds(scenario_for):
    # Given: the README's call for two platforms, with a runner label for one
    scenario = scenario_for()
    workflow = _readme_caller(
        scenario, platforms="linux/amd64,linux/arm64", runners='\'{"linux/amd64": "ubuntu-latest"}\''
    )

    # When
    result, _ = scenario.run("push", workflow=workflow)

    # Then: the plan job said what is missing and how to add it; no platform's job started, nothing pushed
    assert result.exit_code != 0
    assert 'no runner label for linux/arm64 in runners: add one, e.g. {"linux/arm64": "..."}' in result.log, result.log[
        -3000:
    ]
    assert "Build, test end to end and push by digest (" not in result.log
    assert scenario.registry.tags(scenario.repository) == []
