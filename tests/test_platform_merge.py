"""One job per platform, merged: push.sh pushing a tested image by digest, and the merge action's steps
(merge/validate.sh, merge/merge.sh) run directly, against the stand-in Docker Hub."""

import os
import secrets

import pytest
import yaml

from testkit.action import GITHUB_EVENTS, PUBLISHING_EVENTS, github_outputs, login_step_env, push_step_env
from testkit.harness import REPO_ROOT, run
from testkit.projects import bake, unique_name

ACTION = REPO_ROOT / "action"
MERGE = REPO_ROOT / "merge"
COMMIT_SHA = "0123456789abcdef0123456789abcdef01234567"
# What merge/action.yml gives merge/validate.sh on a push to the default branch.
MERGE_INPUTS = {
    "REGISTRY": "docker.io", "IMAGE": "RealPython/Page-Tracker", "DIGESTS": f"sha256:{'a' * 64}\nsha256:{'b' * 64}",
    "PLATFORMS": "linux/amd64,linux/arm64", "USERNAME": "someone", "PASSWORD": "s3cret-token", "EXTRA_TAGS": "",
    "COSIGN_PRIVATE_KEY": "", "EVENT_NAME": "push", "GIT_REF": "refs/heads/main", "DEFAULT_BRANCH": "main",
    "COMMIT_SHA": COMMIT_SHA,
}  # fmt: skip


@pytest.fixture
def logged_in(stand_in_hub, tmp_path):
    """login.sh's Docker config for the stand-in Docker Hub, in a fresh repository; logged out afterwards.
    Yields (repository, environment)."""
    registry = stand_in_hub.docker_hub
    outputs = tmp_path / "login-outputs"
    outputs.touch()
    run([ACTION / "login.sh"], env=login_step_env(registry, registry.password, outputs, tmp_path))
    docker = {
        **os.environ,
        **stand_in_hub.client_env,
        "DOCKER_CONFIG": github_outputs(outputs.read_text())["docker-config"],
    }
    yield f"{unique_name('merge').replace('-', '')}/tiny", docker
    run([ACTION / "logout.sh"], env={**docker, "REGISTRY": "docker.io"})


@pytest.fixture
def build_tested_image(tmp_path, docker_engine):  # pylint: disable=unused-argument
    """Builds one-file images of one platform each with a provenance attestation, as the action builds the
    published image on the containerd store; each call returns the image's ID, the digest of its index. Removed
    afterwards."""
    tags = []

    def build(platform: str) -> str:
        context = tmp_path / f"tiny-{platform.replace('/', '-')}-{secrets.token_hex(4)}"
        context.mkdir()
        (context / "token.txt").write_text(secrets.token_hex(8), encoding="utf-8")
        (context / "Dockerfile").write_text("FROM scratch\nCOPY token.txt /\n", encoding="utf-8")
        tags.append(f"tracker-ci-merge-tiny:{secrets.token_hex(4)}")
        run(["docker", "buildx", "build", "--quiet", "--provenance=mode=max", "--platform", platform, "--load",
             "--tag", tags[-1], str(context)])  # fmt: skip
        return run(["docker", "image", "inspect", "--format", "{{.Id}}", tags[-1]]).stdout.strip()

    yield build
    run(["docker", "rmi", "--force", *tags], check=False)


def _push_by_digest(tmp_path, image_id: str, repository: str, docker: dict, registry):
    """push.sh with push-by-digest, traced command by command; returns its result and outputs."""
    outputs = tmp_path / f"push-outputs-{secrets.token_hex(4)}"
    outputs.touch()
    env = {**push_step_env(image_id, repository, outputs), **docker, "REFS": "", "PUSH_BY_DIGEST": "true",
           "USERNAME": registry.username, "PASSWORD": registry.password}  # fmt: skip
    result = run(["bash", "-x", ACTION / "push.sh"], env=env, check=False)
    return result, github_outputs(outputs.read_text())


def _platforms_held(index: dict) -> list[str]:
    return sorted(
        f"{entry['platform']['os']}/{entry['platform']['architecture']}"
        for entry in index["manifests"]
        if entry["platform"]["os"] != "unknown"
    )


def _attested(index: dict) -> set[str]:
    """The digests of the image manifests an index holds a provenance attestation of."""
    return {
        entry["annotations"]["vnd.docker.reference.digest"]
        for entry in index["manifests"]
        if entry.get("annotations", {}).get("vnd.docker.reference.type") == "attestation-manifest"
    }


def _merge(tmp_path, docker: dict, repository: str, digests: list[str], platforms: list[str], tags: list[str]):
    outputs = tmp_path / f"merge-outputs-{secrets.token_hex(4)}"
    outputs.touch()
    image = f"docker.io/{repository}"
    env = {**docker, "IMAGE": image, "DIGESTS": "\n".join(digests), "PLATFORMS": "\n".join(platforms),
           "REFS": "\n".join(f"{image}:{tag}" for tag in tags), "GITHUB_OUTPUT": str(outputs)}  # fmt: skip
    result = run([MERGE / "merge.sh"], env=env, check=False)
    return result, github_outputs(outputs.read_text())


@pytest.mark.docker
def test_should_push_the_tested_image_by_its_digest_alone_with_its_provenance(
    stand_in_hub, logged_in, build_tested_image, tmp_path
):  # fmt: skip
    # Given: the tested image of one platform, its ID the digest of its index (containerd store)
    registry = stand_in_hub.docker_hub
    repository, docker = logged_in
    image_id = build_tested_image("linux/arm64")

    # When: push.sh with push-by-digest, traced command by command
    result, outputs = _push_by_digest(tmp_path, image_id, repository, docker, registry)

    # Then: the registry serves that very index under its digest, the image and its attestation, and no tag
    assert result.returncode == 0, result.stdout + result.stderr
    assert (outputs["pushed"], outputs["digest"], outputs["refs"]) == ("true", image_id, "")
    index = registry.manifest(repository, image_id)
    assert _platforms_held(index) == ["linux/arm64"]
    assert len(_attested(index)) == 1
    assert registry.tags(repository) == []
    assert registry.password not in result.stdout + result.stderr


@pytest.mark.docker
def test_should_merge_the_tested_digests_into_one_index_under_every_tag(
    stand_in_hub, logged_in, build_tested_image, tmp_path
):
    # Given: an amd64 and an arm64 image, each pushed by digest as its platform's job does
    registry = stand_in_hub.docker_hub
    repository, docker = logged_in
    digests = {}
    for platform in ("linux/amd64", "linux/arm64"):
        pushed, outputs = _push_by_digest(tmp_path, build_tested_image(platform), repository, docker,
                                          registry)  # fmt: skip
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        digests[platform] = outputs["digest"]

    # When
    result, outputs = _merge(
        tmp_path, docker, repository, list(digests.values()), list(digests), [COMMIT_SHA, "latest"]
    )

    # Then: one index of exactly those images, each with its attestation, under both tags
    assert result.returncode == 0, result.stdout + result.stderr
    index = registry.manifest(repository, outputs["digest"])
    assert _platforms_held(index) == ["linux/amd64", "linux/arm64"]
    platform_manifests = {
        platform: next(e["digest"] for e in registry.manifest(repository, digest)["manifests"] if "platform" in e
                       and e["platform"]["os"] != "unknown")
        for platform, digest in digests.items()
    }  # fmt: skip
    held = {e["digest"] for e in index["manifests"] if e["platform"]["os"] != "unknown"}
    assert held == set(platform_manifests.values())
    assert _attested(index) == held
    assert registry.tags(repository) == sorted([COMMIT_SHA, "latest"])
    for tag in (COMMIT_SHA, "latest"):
        assert registry.manifest_digest(repository, tag) == outputs["digest"]

    # When: that two-platform index given as one platform's digest, beside the other's
    refused, refused_outputs = _merge(
        tmp_path, docker, repository, [outputs["digest"], digests["linux/arm64"]], list(digests), ["edge"]
    )

    # Then: refused before any tag moves
    assert refused.returncode != 0
    assert f"{outputs['digest']} holds 2 platforms" in refused.stdout, refused.stdout
    assert "digest" not in refused_outputs
    assert registry.tags(repository) == sorted([COMMIT_SHA, "latest"])


@pytest.mark.docker
@pytest.mark.parametrize(
    ("pushed_platforms", "asked", "message"),
    [
        pytest.param(["linux/amd64", "linux/amd64"], ["linux/amd64", "linux/arm64"],
                     "two digests are images of linux/amd64", id="repeated"),
        pytest.param(["linux/amd64", "linux/arm64"], ["linux/amd64", "linux/riscv64"],
                     "no digest is an image of linux/riscv64", id="missing"),
    ],
)  # fmt: skip
def test_should_refuse_a_repeated_or_missing_platform_before_pushing_anything(
    stand_in_hub, logged_in, build_tested_image, tmp_path, pushed_platforms, asked, message
):
    # Given: one image pushed by digest per entry of pushed_platforms
    registry = stand_in_hub.docker_hub
    repository, docker = logged_in
    digests = []
    for platform in pushed_platforms:
        pushed, outputs = _push_by_digest(tmp_path, build_tested_image(platform), repository, docker,
                                          registry)  # fmt: skip
        assert pushed.returncode == 0, pushed.stdout + pushed.stderr
        digests.append(outputs["digest"])

    # When
    result, outputs = _merge(tmp_path, docker, repository, digests, asked, [COMMIT_SHA, "latest"])

    # Then: refused, and no tag in the repository
    assert result.returncode != 0
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error::")]
    assert any(message in line for line in errors), result.stdout
    assert "digest" not in outputs
    assert registry.tags(repository) == []


def _merge_validate(tmp_path, **inputs):
    outputs = tmp_path / "outputs"
    outputs.touch()
    env = {"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(outputs), **MERGE_INPUTS, **inputs}
    result = run([MERGE / "validate.sh"], env=env, check=False)
    return result, github_outputs(outputs.read_text())


def test_should_read_the_digest_list_the_generated_merge_job_writes(tmp_path, cookies):
    # Given: the digests as the platform jobs leave them (a file each, named by its hex) and the generated merge
    # job's step that lists them for the merge action
    workflow = yaml.safe_load((bake(cookies) / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    listing = next(step["run"] for step in workflow["jobs"]["merge"]["steps"] if step.get("id") == "digests")
    folder = tmp_path / "digests"
    folder.mkdir()
    hexes = sorted(secrets.token_hex(32) for _ in range(2))
    for hex_digest in hexes:
        (folder / hex_digest).touch()
    listed = tmp_path / "listed"
    listed.touch()
    run(["bash", "-e", "-c", listing], cwd=folder, env={"PATH": os.environ["PATH"], "GITHUB_OUTPUT": str(listed)})

    # When: exactly that list as the merge action's digests input
    result, outputs = _merge_validate(tmp_path, DIGESTS=github_outputs(listed.read_text())["digests"])

    # Then
    assert result.returncode == 0, result.stdout
    assert outputs["digests"].splitlines() == [f"sha256:{hex_digest}" for hex_digest in hexes]


@pytest.mark.parametrize(
    ("inputs", "tags"),
    [
        pytest.param({}, [COMMIT_SHA, "latest"], id="default-branch"),
        pytest.param({"GIT_REF": "refs/tags/v1.2.3"}, [COMMIT_SHA, "1.2.3", "1.2", "1"], id="release-tag"),
        pytest.param({"GIT_REF": "refs/tags/v2.0.0-rc.1"}, [COMMIT_SHA, "2.0.0-rc.1"], id="prerelease-tag"),
        pytest.param({"EXTRA_TAGS": "edge"}, [COMMIT_SHA, "latest", "edge"], id="extra-tag"),
    ],
)
def test_should_tag_the_index_as_the_action_tags_a_push(tmp_path, inputs, tags):
    # When
    result, outputs = _merge_validate(tmp_path, **inputs)

    # Then
    assert result.returncode == 0, result.stdout
    assert outputs["refs"].splitlines() == [f"docker.io/realpython/page-tracker:{tag}" for tag in tags]
    assert outputs["platforms"].splitlines() == ["linux/amd64", "linux/arm64"]
    assert outputs["sign"] == "false"


@pytest.mark.parametrize("event", GITHUB_EVENTS)
def test_should_merge_only_on_the_events_that_publish(tmp_path, event):
    # When: every event GitHub documents
    result, outputs = _merge_validate(tmp_path, EVENT_NAME=event)

    # Then: the action's one publishing rule
    if event in PUBLISHING_EVENTS:
        assert result.returncode == 0, result.stdout
    else:
        assert result.returncode != 0
        assert f"::error::merging is refused on {event} events" in result.stdout
        assert "refs" not in outputs


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        pytest.param({"EVENT_NAME": "pull_request"}, "merging is refused on pull_request events", id="pull-request"),
        pytest.param({"DIGESTS": f"sha256:{'a' * 64}"}, "1 digests for 2 platforms", id="a-platform-job-failed"),
        pytest.param({"DIGESTS": f"sha256:{'a' * 64} sha256:{'a' * 64}"}, "digests are given twice", id="same-digest"),
        pytest.param({"PLATFORMS": "linux/arm64,linux/arm64"}, "platforms are given twice", id="same-platform"),
        pytest.param({"DIGESTS": f"sha256:{'a' * 64}\nlatest"}, "digest 'latest' is not a sha256", id="not-a-digest"),
        pytest.param({"PLATFORMS": ""}, "platforms is required", id="no-platforms"),
        pytest.param({"GIT_REF": "refs/tags/vnext"}, "tag 'vnext' is not a release version", id="tag-not-semver"),
        pytest.param({"PASSWORD": ""}, "password is required", id="no-password"),
        pytest.param({"REGISTRY": "nexus"}, "registry 'nexus' is no host to Docker", id="registry-without-dot"),
        pytest.param({"IMAGE": "ghcr.io/octo/app"}, "starts with a registry host", id="image-with-registry"),
        pytest.param({"COSIGN_PRIVATE_KEY": "not a key"}, "cosign-key is not a cosign private key", id="bad-key"),
    ],
)
def test_should_refuse_bad_merge_inputs_before_any_work(tmp_path, inputs, message):
    # When
    result, outputs = _merge_validate(tmp_path, **inputs)

    # Then
    assert result.returncode != 0
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error::")]
    assert any(message in line for line in errors), result.stdout
    assert outputs == {}
    assert MERGE_INPUTS["PASSWORD"] not in result.stdout + result.stderr
