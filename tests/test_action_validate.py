"""The action's first step, validate.sh, run directly: every input checked and normalised once, the push
decided once."""

import json
import os
import re
import shutil
from pathlib import Path

import pytest

from testkit.action import GITHUB_EVENTS, PUBLISHING_EVENTS, github_outputs, step_env_defaults
from testkit.harness import REPO_ROOT, run
from testkit.projects import bake

# The action's default inputs (read from action.yml), on a push to the default branch.
VALID_INPUTS = {
    **step_env_defaults("validate"),
    "EVENT_NAME": "push",
    "GIT_REF": "refs/heads/main",
    "DEFAULT_BRANCH": "main",
    "COMMIT_SHA": "0123456789abcdef0123456789abcdef01234567",
    "RUN_ID": "4242",
    "RUN_ATTEMPT": "2",
    "SERVER_URL": "https://github.com",
    "REPOSITORY": "acme/page-tracker",
    "REPOSITORY_NAME": "page-tracker",
    "REPOSITORY_DESCRIPTION": "",
    "REPOSITORY_LICENSE": "",
}
PUSHING = {"IMAGE": "RealPython/Page-Tracker", "USERNAME": "someone", "PASSWORD": "s3cret-token"}


@pytest.fixture(scope="module")
def baked_for_validation(cookies_session):
    return bake(cookies_session, project_name="Validation Subject")


def _validate(project, tmp_path, store="containerd", **inputs):
    """validate.sh run with the inputs, on an engine of the given image store (ubuntu-latest's by default): a shim
    answers for the engine, so the result is the same on this machine's engine, another one or none."""
    tmp_path.mkdir(exist_ok=True)
    outputs = tmp_path / "outputs"
    outputs.touch()
    path = f"{_engine_shim(tmp_path / f'engine-{store}', store)}:{inputs.pop('PATH', os.environ['PATH'])}"
    env = {"PATH": path, "HOME": os.environ["HOME"], "GITHUB_OUTPUT": str(outputs)}
    result = run(
        [REPO_ROOT / "action" / "validate.sh"], cwd=project, env={**env, **VALID_INPUTS, **inputs}, check=False
    )
    return result, github_outputs(outputs.read_text())


@pytest.mark.parametrize(
    ("inputs", "push"),
    [
        pytest.param({}, "false", id="push-without-image-is-not-attempted"),
        pytest.param(PUSHING, "true", id="push-to-default-branch"),
        pytest.param({**PUSHING, "GIT_REF": "refs/heads/feature"}, "false", id="other-branch"),
        pytest.param({**PUSHING, "EVENT_NAME": "pull_request"}, "false", id="pull-request"),
        pytest.param({**PUSHING, "PUSH": "false"}, "false", id="push-false"),
        pytest.param({**PUSHING, "PUSH": "true", "GIT_REF": "refs/tags/v1.0.0"}, "true", id="push-true-on-tag"),
        pytest.param({**PUSHING, "GIT_REF": "refs/tags/v1.0.0"}, "true", id="auto-on-release-tag"),
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


@pytest.mark.parametrize("event", GITHUB_EVENTS)
def test_should_publish_under_auto_only_a_push_of_the_default_branch(baked_for_validation, tmp_path, event):
    # When: every event GitHub documents, on the default branch's ref
    result, outputs = _validate(baked_for_validation, tmp_path, **PUSHING, EVENT_NAME=event)

    # Then
    assert result.returncode == 0, result.stdout
    assert outputs["push"] == ("true" if event == "push" else "false")


@pytest.mark.parametrize("event", GITHUB_EVENTS)
def test_should_publish_under_true_only_on_the_publishing_events(baked_for_validation, tmp_path, event):
    # When
    result, outputs = _validate(baked_for_validation, tmp_path, **PUSHING, PUSH="true", EVENT_NAME=event)

    # Then: a publishing event pushes; any other is refused before any work, naming the event
    if event in PUBLISHING_EVENTS:
        assert (result.returncode, outputs["push"]) == (0, "true"), result.stdout
    else:
        assert result.returncode != 0
        assert f"::error::push: true is refused on {event} events" in result.stdout
        assert "push" not in outputs


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
        pytest.param({"GIT_REF": "refs/tags/v1.2.3"}, ["SHA", "1.2.3", "1.2", "1"], id="release-tag"),
        pytest.param({"GIT_REF": "refs/tags/1.2.3"}, ["SHA", "1.2.3", "1.2", "1"], id="release-tag-without-v"),
        pytest.param({"GIT_REF": "refs/tags/v2.0.0-rc.1"}, ["SHA", "2.0.0-rc.1"], id="prerelease-tag"),
        pytest.param({"GIT_REF": "refs/tags/v1.0.0+build.5"}, ["SHA", "1.0.0_build.5"], id="build-metadata-tag"),
        pytest.param(
            {"PUSH": "true", "EVENT_NAME": "release", "GIT_REF": "refs/tags/v1.2.3"},
            ["SHA", "1.2.3", "1.2", "1"],
            id="release-event",
        ),
        pytest.param({"PUSH_BY_DIGEST": "true"}, [], id="by-digest-no-tag"),
        pytest.param({"PUSH_BY_DIGEST": "true", "GIT_REF": "refs/tags/v1.2.3"}, [], id="by-digest-release-no-tag"),
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
    same_job = {"RUN_ID": "42", "RUN_ATTEMPT": "2", "GITHUB_JOB": "Build_And.Push"}

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


def _services_with_build_file(project, build_file):
    """The services as the action's Compose reads them: the project's file, validate.sh's build file on top."""
    config = run(
        ["docker", "compose", "--file", "docker-compose.yml", "--file", build_file, "--profile", "testing",
         "config", "--no-interpolate", "--format", "json"],
        cwd=project,
    )  # fmt: skip
    return json.loads(config.stdout)["services"]


CACHE_REF = "docker.io/realpython/page-tracker:buildcache"
# What `docker info --format '{{json .DriverStatus}}'` answers on each image store (Docker 28.5).
DRIVER_STATUS = {
    "containerd": '[["driver-type","io.containerd.snapshotter.v1"]]',
    "classic": '[["Backing Filesystem","extfs"],["Supports d_type","true"],["Using metacopy","false"]]',
}
# The layer cache each store's builder reads and (on the default branch) writes.
CACHE_SETTINGS = {
    "containerd": {"cache_from": [f"type=registry,ref={CACHE_REF}"],
                   "cache_to": [f"type=registry,ref={CACHE_REF},mode=max,ignore-error=true"]},
    "classic": {"cache_from": [CACHE_REF], "cache_to": ["type=inline"]},
}  # fmt: skip


# What `docker buildx inspect` lists of a builder on an amd64 runner with QEMU for arm64 (Docker 28.5).
BUILDER_PLATFORMS = "linux/amd64, linux/amd64/v2, linux/amd64/v3, linux/arm64"


def _engine_shim(folder, store) -> Path:
    """A folder with a docker command whose `info` answers as an engine with the given image store and whose
    `buildx inspect` lists BUILDER_PLATFORMS; every other command goes to the real docker CLI."""
    folder.mkdir(exist_ok=True)
    docker = folder / "docker"
    docker.write_text(
        f"#!/bin/sh\nif [ \"$1\" = info ]; then echo '{DRIVER_STATUS[store]}'; exit 0; fi\n"
        f'if [ "$1 $2" = "buildx inspect" ]; then echo "Platforms: {BUILDER_PLATFORMS}"; exit 0; fi\n'
        f'exec {shutil.which("docker")} "$@"\n',
        encoding="utf-8",
    )
    docker.chmod(0o755)
    return folder


@pytest.fixture(params=sorted(DRIVER_STATUS))
def engine_with_store(request):
    """Each image store in turn: (store, the _validate argument that gives the engine that store)."""
    return request.param, {"store": request.param}


@pytest.mark.parametrize(
    ("inputs", "write", "cache_ref"),
    [
        pytest.param(PUSHING, "true", CACHE_REF, id="default-branch-writes"),
        pytest.param({**PUSHING, "EVENT_NAME": "pull_request"}, "false", CACHE_REF, id="pull-request-reads"),
        pytest.param({**PUSHING, "GIT_REF": "refs/heads/feature"}, "false", CACHE_REF, id="branch-reads"),
        pytest.param({**PUSHING, "GIT_REF": "refs/tags/v1.0.0"}, "false", CACHE_REF, id="release-reads"),
        pytest.param({"IMAGE": PUSHING["IMAGE"], "PUSH": "false"}, "false", CACHE_REF, id="test-only-reads"),
        pytest.param({}, "false", "", id="no-image-no-cache"),
        pytest.param({**PUSHING, "CACHE": "false"}, "false", "", id="cache-false"),
    ],
)  # fmt: skip
def test_should_let_only_the_default_branch_write_the_layer_cache(
    baked_for_validation, tmp_path, engine_with_store, inputs, write, cache_ref
):
    # Given: an engine with the containerd or the classic image store
    store, engine = engine_with_store

    # When
    result, outputs = _validate(baked_for_validation, tmp_path, **inputs, **engine)
    config = _services_with_build_file(baked_for_validation, outputs["build-file"])

    # Then: both builds read the cache its builder can export (registry cache, or the test image's inline
    # cache); on the default branch the test build writes it, and an inline cache's test image is built under
    # the cache's name, only where it is pushed
    assert result.returncode == 0, result.stdout + result.stderr
    assert (outputs["write-cache"], outputs["cache-ref"]) == (write, cache_ref)
    assert outputs["cache-kind"] == ("" if not cache_ref else {"containerd": "registry", "classic": "inline"}[store])
    settings = CACHE_SETTINGS[store] if cache_ref else {}
    cache_keys = ("cache_from", "cache_to")
    test_build, web_build = config["test-service"]["build"], config["web-service"]["build"]
    assert {key: test_build[key] for key in cache_keys if key in test_build} == {
        key: value for key, value in settings.items() if key == "cache_from" or write == "true"
    }
    assert {key: web_build[key] for key in cache_keys if key in web_build} == {
        key: value for key, value in settings.items() if key == "cache_from"
    }
    renamed = write == "true" and store == "classic"
    assert config["test-service"].get("image") == (cache_ref if renamed else None)


@pytest.mark.parametrize(
    ("platforms", "cache_ref"),
    [
        pytest.param("", CACHE_REF, id="the-engines-own"),
        pytest.param("linux/arm64", f"{CACHE_REF}-linux-arm64", id="one-given"),
    ],
)
def test_should_give_a_job_of_one_platform_a_layer_cache_of_its_own(
    baked_for_validation, tmp_path, engine_with_store, platforms, cache_ref
):
    # Given
    _, engine = engine_with_store

    # When: the job of one platform among several (push-by-digest), or a run of the engine's own
    result, outputs = _validate(baked_for_validation, tmp_path, **PUSHING, PLATFORMS=platforms, **engine)

    # Then: two platforms' jobs never write one cache, each replacing the other's
    assert result.returncode == 0, result.stdout + result.stderr
    assert outputs["cache-ref"] == cache_ref


@pytest.mark.parametrize("inputs", [PUSHING, {}], ids=["pushing", "test-only"])
def test_should_attest_the_published_image_where_the_image_store_can_hold_it(
    baked_for_validation, tmp_path, engine_with_store, inputs
):
    # Given: an engine with the containerd or the classic image store
    store, engine = engine_with_store

    # When
    result, outputs = _validate(baked_for_validation, tmp_path, **inputs, **engine)
    config = _services_with_build_file(baked_for_validation, outputs["build-file"])

    # Then: a provenance attestation (mode=max, the workflow run as its builder) on the containerd store only; the
    # test image, never pushed, has none
    assert result.returncode == 0, result.stdout + result.stderr
    builder_id = "https://github.com/acme/page-tracker/actions/runs/4242/attempts/2"
    provenance = f"mode=max,builder-id={builder_id}" if store == "containerd" else "false"
    web_build, test_build = config["web-service"]["build"], config["test-service"]["build"]
    assert (web_build.get("provenance"), web_build.get("sbom")) == (provenance, "false")
    assert (test_build.get("provenance"), test_build.get("sbom")) == ("false", "false")
    assert outputs["attest"] == str(store == "containerd").lower()


@pytest.mark.parametrize(
    ("platforms", "expected"),
    [
        pytest.param("", None, id="the-engines-own"),
        pytest.param("linux/amd64", ["linux/amd64"], id="one"),
        pytest.param(" linux/amd64 ,linux/arm64,", ["linux/amd64", "linux/arm64"], id="two-with-spaces"),
    ],
)
def test_should_build_the_published_image_for_each_platform_given(
    baked_for_validation, tmp_path, engine_with_store, platforms, expected
):
    # Given
    store, engine = engine_with_store

    # When
    result, outputs = _validate(baked_for_validation, tmp_path, PLATFORMS=platforms, **engine)

    # Then: several platforms only where the store holds them; the test image is the runner's own
    if store == "classic" and len(expected or []) > 1:
        assert result.returncode != 0
        assert "need the containerd image store" in result.stdout
        return
    assert result.returncode == 0, result.stdout + result.stderr
    config = _services_with_build_file(baked_for_validation, outputs["build-file"])
    assert config["web-service"]["build"].get("platforms") == expected
    assert "platforms" not in config["test-service"]["build"]
    assert outputs["platforms"] == ",".join(expected or [])


@pytest.mark.parametrize(
    ("platforms", "accepted"),
    [
        pytest.param("", True, id="the-engines-own"),
        pytest.param("linux/arm64", True, id="one"),
        pytest.param("linux/amd64,linux/arm64", False, id="two"),
    ],
)
def test_should_push_by_digest_one_platform_of_the_containerd_store(
    baked_for_validation, tmp_path, engine_with_store, platforms, accepted
):
    # Given
    store, engine = engine_with_store

    # When
    result, outputs = _validate(
        baked_for_validation, tmp_path, **PUSHING, PUSH_BY_DIGEST="true", PLATFORMS=platforms, **engine
    )

    # Then: one platform, where the store keeps its index and provenance as built; no tag, no signature of its own
    if store == "classic" or not accepted:
        assert result.returncode != 0
        expected = "needs the containerd image store" if store == "classic" else "pushes one platform's image"
        assert expected in result.stdout
        return
    assert result.returncode == 0, result.stdout + result.stderr
    pushed = {name: outputs[name] for name in ("push", "push-by-digest", "refs", "sign", "attest")}
    assert pushed == {"push": "true", "push-by-digest": "true", "refs": "", "sign": "false", "attest": "true"}


@pytest.mark.parametrize(
    ("platforms", "message"),
    [
        pytest.param("arm64", "platform 'arm64' is not an os/architecture pair", id="no-os"),
        pytest.param("linux/arm64,linux/arm64", "platform 'linux/arm64' is given twice", id="twice"),
        pytest.param("linux/amd64,linux/riscv64", "cannot build and run linux/riscv64 images", id="no-emulator"),
    ],
)
def test_should_refuse_a_platform_it_cannot_build_and_test(
    baked_for_validation, tmp_path, engine_with_store, platforms, message
):
    # Given
    _, engine = engine_with_store

    # When
    result, outputs = _validate(baked_for_validation, tmp_path, PLATFORMS=platforms, **engine)

    # Then
    assert result.returncode != 0
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error::")]
    assert any(message in line for line in errors), result.stdout
    assert "push" not in outputs


COSIGN_KEY = (
    "-----BEGIN ENCRYPTED SIGSTORE PRIVATE KEY-----\neyJrZGYiOnt9fQ==\n-----END ENCRYPTED SIGSTORE PRIVATE KEY-----"
)


@pytest.fixture
def cosign_on_path(tmp_path):
    """PATH with a `cosign` command (validate.sh only looks for it)."""
    folder = tmp_path / "cosign-bin"
    folder.mkdir()
    (folder / "cosign").write_text("#!/bin/sh\nexit 0\n", encoding="utf-8")
    (folder / "cosign").chmod(0o755)
    return {"PATH": f"{folder}:{os.environ['PATH']}"}


@pytest.mark.parametrize(
    ("inputs", "sign"),
    [
        pytest.param({**PUSHING, "COSIGN_PRIVATE_KEY": COSIGN_KEY}, "true", id="pushing-with-a-key"),
        pytest.param({**PUSHING}, "false", id="pushing-without-a-key"),
        pytest.param({**PUSHING, "COSIGN_PRIVATE_KEY": COSIGN_KEY, "EVENT_NAME": "pull_request"}, "false", id="pr"),
    ],
)
def test_should_sign_only_what_it_pushes_with_a_key(baked_for_validation, tmp_path, cosign_on_path, inputs, sign):
    # When
    result, outputs = _validate(baked_for_validation, tmp_path, **inputs, **cosign_on_path)

    # Then
    assert result.returncode == 0, result.stdout + result.stderr
    assert outputs["sign"] == sign
    assert "eyJrZGYiOnt9fQ" not in result.stdout + result.stderr


@pytest.mark.parametrize(
    ("key", "with_cosign", "message"),
    [
        pytest.param("s3cret-not-a-key", True, "cosign-key is not a cosign private key", id="not-a-key"),
        pytest.param(COSIGN_KEY, False, "cosign is not installed: run sigstore/cosign-installer", id="no-cosign"),
    ],
)
def test_should_refuse_a_signing_it_cannot_do_before_any_work(  # pylint: disable=too-many-arguments
    baked_for_validation, tmp_path, cosign_on_path, key, with_cosign, message
):
    # Given: PATH with or without cosign (the system's folders only: no cosign there)
    path = cosign_on_path if with_cosign else {"PATH": "/usr/local/bin:/usr/bin:/bin"}

    # When
    result, outputs = _validate(baked_for_validation, tmp_path, **PUSHING, COSIGN_PRIVATE_KEY=key, **path)

    # Then: the error names the input, never its value
    assert result.returncode != 0
    errors = [line for line in result.stdout.splitlines() if line.startswith("::error::")]
    assert any(message in line for line in errors), result.stdout
    assert "push" not in outputs
    secret_part = key if "\n" not in key else key.splitlines()[1]
    assert secret_part not in result.stdout + result.stderr


def test_should_output_the_throwaway_secrets_one_per_line_trimmed(baked_for_validation, tmp_path):
    # When
    result, outputs = _validate(
        baked_for_validation, tmp_path, THROWAWAY_SECRETS=" secrets/redis-password \n\nsecrets/api key\n"
    )

    # Then: test.sh makes exactly these
    assert result.returncode == 0, result.stdout
    assert outputs["throwaway-secrets"].splitlines() == ["secrets/redis-password", "secrets/api key"]


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        pytest.param({"COMPOSE_FILE": "missing.yml"}, "compose-file 'missing.yml' not found", id="missing-compose"),
        pytest.param({"WORKING_DIRECTORY": "nowhere"}, "working-directory 'nowhere' does not exist", id="no-dir"),
        pytest.param({"TEST_SERVICE": "tests"}, "service 'tests' is not in", id="unknown-test-service"),
        pytest.param({"PUBLISH_SERVICE": "api"}, "service 'api' is not in", id="unknown-publish-service"),
        pytest.param({"PUSH": "yes"}, "push must be auto, true or false", id="bad-push-value"),
        pytest.param({"CACHE": "yes"}, "cache must be true or false, not 'yes'", id="bad-cache-value"),
        pytest.param({"PUSH_BY_DIGEST": "yes"}, "push-by-digest must be true or false", id="bad-by-digest-value"),
        pytest.param(
            {**PUSHING, "PUSH_BY_DIGEST": "true", "EXTRA_TAGS": "edge"},
            "tags cannot be given with push-by-digest",
            id="by-digest-with-tags",
        ),
        pytest.param(
            {**PUSHING, "PUSH_BY_DIGEST": "true", "COSIGN_PRIVATE_KEY": "any"},
            "give it to the merge action",
            id="by-digest-with-cosign-key",
        ),
        pytest.param({"IMAGE": "Bad Image"}, "is not a valid repository name", id="bad-image-without-push"),
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
        # Every check below runs on a pull request too: a bad input fails it, not the first push after it.
        pytest.param(
            {"REGISTRY": "nexus", "EVENT_NAME": "pull_request"},
            "registry 'nexus' is no host to Docker",
            id="registry-without-dot-or-port",
        ),
        pytest.param(
            {
                "REGISTRY": "registry.example.com",
                "IMAGE": "registry.example.com/team/app",
                "EVENT_NAME": "pull_request",
            },
            "starts with a registry host",
            id="image-with-registry",
        ),
        pytest.param(
            {"TEST_SERVICE": "web-service", "EVENT_NAME": "pull_request"},
            "test-service and publish-service are both 'web-service'",
            id="same-services",
        ),
        pytest.param(
            {"PUBLISH_SERVICE": "redis-service", "EVENT_NAME": "pull_request"},
            "publish-service 'redis-service' has no build:",
            id="publish-service-without-build",
        ),
        pytest.param(
            {"EXTRA_TAGS": "-bad", "EVENT_NAME": "pull_request"},
            "tag '-bad' is not a valid image tag",
            id="bad-tag-on-a-pull-request",
        ),
        pytest.param(
            {"COSIGN_PRIVATE_KEY": "s3cret-not-a-key", "EVENT_NAME": "pull_request"},
            "cosign-key is not a cosign private key",
            id="bad-key-on-a-pull-request",
        ),
        pytest.param(
            {**PUSHING, "GIT_REF": "refs/tags/vnext"}, "tag 'vnext' is not a release version", id="tag-not-semver"
        ),
        pytest.param(
            {**PUSHING, "GIT_REF": "refs/tags/v1.2"}, "tag 'v1.2' is not a release version", id="tag-two-parts"
        ),
        # A throw-away secret file outside the checkout would overwrite a runner's file.
        pytest.param(
            {"THROWAWAY_SECRETS": "secrets/redis-password\n../../.ssh/config", "EVENT_NAME": "pull_request"},
            "throwaway-secrets names '../../.ssh/config': each must be a path inside working-directory",
            id="throwaway-secret-outside",
        ),
        pytest.param(
            {"THROWAWAY_SECRETS": "/etc/hosts"},
            "throwaway-secrets names '/etc/hosts': each must be a path inside working-directory",
            id="throwaway-secret-absolute",
        ),
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


@pytest.mark.parametrize(
    ("inputs", "expected"),
    [
        pytest.param(
            {"GIT_REF": "refs/tags/v1.2.3", "REPOSITORY_DESCRIPTION": 'Counts "views" for $HOME\n100% sure',
             "REPOSITORY_LICENSE": "MIT"},
            {"version": "1.2.3", "description": 'Counts "views" for $HOME\n100% sure', "licenses": "MIT"},
            id="release-with-description-and-license",
        ),
        pytest.param(
            {"REPOSITORY_LICENSE": "NOASSERTION"}, {"version": VALID_INPUTS["COMMIT_SHA"]}, id="branch-no-license"
        ),
    ],
)  # fmt: skip
def test_should_label_the_published_image_at_build_time(baked_for_validation, tmp_path, inputs, expected):
    # When: validate.sh writes the labels; Compose reads them as the action's build does
    result, outputs = _validate(baked_for_validation, tmp_path, **inputs)
    config = run(
        [
            "docker",
            "compose",
            "--file",
            "docker-compose.yml",
            "--file",
            outputs["build-file"],
            "config",
            "--format",
            "json",
        ],
        cwd=baked_for_validation,
    )

    # Then
    assert result.returncode == 0, result.stdout
    labels = json.loads(config.stdout)["services"]["web-service"]["build"]["labels"]
    prefix = "org.opencontainers.image."
    assert {name.removeprefix(prefix) for name in labels} == {
        "source", "revision", "version", "created", "title", *expected
    }  # fmt: skip
    assert labels[f"{prefix}source"] == "https://github.com/acme/page-tracker"
    assert labels[f"{prefix}revision"] == VALID_INPUTS["COMMIT_SHA"]
    assert labels[f"{prefix}title"] == "page-tracker"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", labels[f"{prefix}created"])
    for name, value in expected.items():  # config prints a literal $ escaped again; the build gets one $
        assert labels[prefix + name] == value.replace("$", "$$")


def test_should_never_trace_the_password_or_the_key_even_when_asked_to(baked_for_validation, tmp_path, cosign_on_path):
    # Given: bash told to trace every command it runs (SHELLOPTS is read at start-up), a password and a key
    secrets_given = {"PASSWORD": "s3cret-token-traced", "COSIGN_PRIVATE_KEY": COSIGN_KEY}

    # When
    inputs = PUSHING | secrets_given | cosign_on_path
    result, outputs = _validate(baked_for_validation, tmp_path, **inputs, SHELLOPTS="xtrace")

    # Then: it ran, and neither secret is in its output
    assert (result.returncode, outputs["push"], outputs["sign"]) == (0, "true", "true"), result.stdout
    assert "s3cret-token-traced" not in result.stdout + result.stderr
    assert COSIGN_KEY.splitlines()[1] not in result.stdout + result.stderr
