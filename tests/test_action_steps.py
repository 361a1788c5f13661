"""The action's step scripts run directly, where nothing masks a secret and nothing but the script cleans up:
login.sh, push.sh and sign.sh against the stand-in Docker Hub, test.sh with a service that never gets healthy, and
summary.sh from what action.yml hands it after each kind of run."""

import os
import re
import secrets
import shutil

import pytest

from testkit.action import action_test_env, github_outputs, login_step_env, push_step_env
from testkit.compose import compose_leftovers
from testkit.cosign import COSIGN_DIR, generate_key_pair, verify
from testkit.harness import REPO_ROOT, engine_image_store, run
from testkit.markdown import markdown_table
from testkit.projects import unique_name
from testkit.template import derived


def _image_id(reference: str) -> str:
    return run(["docker", "image", "inspect", "--format", "{{.Id}}", reference]).stdout.strip()


@pytest.mark.docker
@pytest.mark.parametrize("right_password", [True, False], ids=["right-password", "wrong-password"])
def test_should_never_print_the_password_where_nothing_masks_it(stand_in_hub, tiny_image, tmp_path, right_password):
    # Given: the login and push steps run directly, as on a runner whose masking failed; nothing hides a leak
    registry = stand_in_hub.docker_hub
    password = registry.password if right_password else f"wrong-{secrets.token_hex(8)}"
    repository = f"{unique_name('leak').replace('-', '')}/tiny"
    outputs = tmp_path / "outputs"
    outputs.touch()
    login_env = login_step_env(registry, password, outputs, tmp_path)
    # (push.sh reads the registry with buildx, which trusts the stand-in's certificate through client_env)
    push_env = {**push_step_env(_image_id(tiny_image), repository, outputs), **stand_in_hub.client_env,
                "USERNAME": registry.username, "PASSWORD": password}  # fmt: skip

    try:
        # When: each step traced command by command
        login = run(["bash", "-x", REPO_ROOT / "action" / "login.sh"], env=login_env, check=False)
        docker_config = github_outputs(outputs.read_text())["docker-config"]
        push_env["DOCKER_CONFIG"] = docker_config
        pushed = None
        if login.returncode == 0:
            pushed = run(["bash", "-x", REPO_ROOT / "action" / "push.sh"], env=push_env)
        run(["bash", "-x", REPO_ROOT / "action" / "logout.sh"], env=push_env)

        # Then: not in the output, not even in bash's trace of every command it ran; nothing left behind
        assert password not in login.stdout + login.stderr
        assert (login.returncode == 0) is right_password, login.stdout + login.stderr
        if right_password:
            assert password not in pushed.stdout + pushed.stderr
            assert github_outputs(outputs.read_text())["digest"] == registry.manifest_digest(repository, "v1")
        assert not os.path.exists(docker_config)
    finally:
        run(["docker", "rmi", f"{repository}:v1"], check=False)


@pytest.mark.docker
@pytest.mark.image_store
def test_should_output_the_pushed_digest_not_one_the_image_carries_from_another_repository(
    stand_in_hub, tiny_image, tmp_path
):
    # Given: the image to push, pulled before from another repository as a one-platform index, so that the engine
    # holds that repository's digest for it (on the classic store, the index's: not what a push of it gives)
    registry = stand_in_hub.docker_hub
    namespace = unique_name("digest").replace("-", "")
    elsewhere, ours = f"{namespace}/elsewhere", f"{namespace}/tiny"
    outputs = tmp_path / "outputs"
    outputs.touch()
    run([REPO_ROOT / "action" / "login.sh"], env=login_step_env(registry, registry.password, outputs, tmp_path))
    docker = {
        **os.environ,
        **stand_in_hub.client_env,
        "DOCKER_CONFIG": github_outputs(outputs.read_text())["docker-config"],
    }
    run(["docker", "tag", tiny_image, f"{elsewhere}:one"])
    run(["docker", "push", "--quiet", f"{elsewhere}:one"], env=docker)
    index_digest = registry.put_one_platform_index(elsewhere, "one", "index")
    run(["docker", "rmi", "--force", _image_id(tiny_image)])
    run(["docker", "pull", "--quiet", f"{elsewhere}:index"], env=docker)
    image_id = _image_id(f"{elsewhere}:index")
    carried = run(["docker", "image", "inspect", "--format", "{{json .RepoDigests}}", image_id]).stdout

    try:
        # When
        run([REPO_ROOT / "action" / "push.sh"], env={**push_step_env(image_id, ours, outputs), **docker})

        # Then
        assert f"{elsewhere}@{index_digest}" in carried
        digest = github_outputs(outputs.read_text())["digest"]
        assert digest == registry.manifest_digest(ours, "v1")
        if engine_image_store() == "classic":
            assert digest != index_digest, "the case that tells a carried digest from the pushed one is gone"
    finally:
        run([REPO_ROOT / "action" / "logout.sh"], env={**push_step_env(image_id, ours, outputs), **docker})
        run(["docker", "rmi", "--force", image_id], check=False)


def _docker_that_retags_before_push(folder, image: str, ref: str):
    """A folder with a docker command that, as another job on a shared engine could, points `ref` at `image` just
    before each push of it; the rest of docker as it is."""
    folder.mkdir()
    real = shutil.which("docker")
    (folder / "docker").write_text(
        f'#!/bin/sh\n[ "$1 $2" != "push {ref}" ] || "{real}" tag {image} "$2" || exit 1\nexec "{real}" "$@"\n',
        encoding="utf-8",
    )
    (folder / "docker").chmod(0o755)
    return folder


@pytest.mark.docker
@pytest.mark.parametrize("retagged", ["image", "layer-cache"])
def test_should_fail_naming_both_digests_when_a_tag_was_moved_before_its_push(
    stand_in_hub, tiny_image, tmp_path, retagged
):
    # Given: the tested image, and the test image as built, whose layers the inline cache carries; another image;
    # a docker command that points the image's tag, or the cache's, at the other image just before its push
    registry = stand_in_hub.docker_hub
    repository = f"{unique_name('race').replace('-', '')}/tiny"
    test_image, other = (f"tracker-ci-harness-{name}:{secrets.token_hex(4)}" for name in ("test", "other"))
    for tag in (test_image, other):
        run(["docker", "build", "--quiet", "--tag", tag, "-"], input=f"FROM {tiny_image}\nLABEL run={tag}\n")
    cache_ref = f"docker.io/{repository}:buildcache"
    moved = {"image": f"docker.io/{repository}:v1", "layer-cache": cache_ref}[retagged]
    racing = _docker_that_retags_before_push(tmp_path / "racing", other, moved)
    outputs = tmp_path / "outputs"
    outputs.touch()
    run([REPO_ROOT / "action" / "login.sh"], env=login_step_env(registry, registry.password, outputs, tmp_path))
    docker = {
        **os.environ,
        **stand_in_hub.client_env,
        "DOCKER_CONFIG": github_outputs(outputs.read_text())["docker-config"],
    }
    tested, cached = _image_id(tiny_image), _image_id(test_image)
    inline_cache = {"WRITE_CACHE": "true", "CACHE_KIND": "inline", "CACHE_REF": cache_ref, "CACHE_IMAGE_ID": cached}
    push_env = {**push_step_env(tested, repository, outputs), **docker, **inline_cache,
                "PATH": f"{racing}:{os.environ['PATH']}"}  # fmt: skip

    try:
        # When
        result = run([REPO_ROOT / "action" / "push.sh"], env=push_env, check=False)

        # Then: refused, naming what the registry holds and what was tested (and built); no digest for the sign step
        # where the image itself was moved
        assert result.returncode != 0
        pushed = registry.manifest_digest(repository, moved.rsplit(":", 1)[1])
        expected = {"image": tested, "layer-cache": cached}[retagged]
        assert pushed != expected
        errors = [line for line in result.stdout.splitlines() if line.startswith("::error::")]
        assert any(pushed in line and expected in line for line in errors), result.stdout
        assert ("digest" in github_outputs(outputs.read_text())) is (retagged == "layer-cache")
    finally:
        run([REPO_ROOT / "action" / "logout.sh"], env=push_env)
        run(["docker", "rmi", "--force", test_image, other, f"{repository}:v1", f"{repository}:buildcache"],
            check=False)  # fmt: skip


@pytest.mark.docker
def test_should_sign_the_digest_this_run_pushed_not_what_a_tag_named_before(stand_in_hub, tiny_image, tmp_path):
    # Given: a release run's image pushed under its version by push.sh, into a repository whose `latest` an earlier
    # run pushed (another image); a cosign key pair
    registry = stand_in_hub.docker_hub
    repository = f"{unique_name('sign').replace('-', '')}/tiny"
    image = f"docker.io/{repository}"
    outputs = tmp_path / "outputs"
    outputs.touch()
    run([REPO_ROOT / "action" / "login.sh"], env=login_step_env(registry, registry.password, outputs, tmp_path))
    docker = {
        **os.environ,
        **stand_in_hub.client_env,
        "DOCKER_CONFIG": github_outputs(outputs.read_text())["docker-config"],
    }
    earlier = f"{image}:latest"
    run(["docker", "build", "--quiet", "--tag", earlier, "-"], input=f"FROM {tiny_image}\nLABEL run=earlier\n")
    run(["docker", "push", "--quiet", earlier], env=docker)
    push_env = {**push_step_env(_image_id(tiny_image), repository, outputs), **docker, "REFS": f"{image}:1.2.3"}
    run([REPO_ROOT / "action" / "push.sh"], env=push_env)
    digest = github_outputs(outputs.read_text())["digest"]
    keys = generate_key_pair(tmp_path / "keys", secrets.token_urlsafe(12))
    sign_env = {**docker, "IMAGE": image, "DIGEST": digest, "GITHUB_OUTPUT": str(outputs),
                "COSIGN_PRIVATE_KEY": keys.private_key, "COSIGN_PASSWORD": keys.password,
                "PATH": f"{COSIGN_DIR}:{os.environ['PATH']}"}  # fmt: skip

    try:
        # When
        signed = run([REPO_ROOT / "action" / "sign.sh"], env=sign_env, check=False)

        # Then: what a user verifies, the pushed digest and the release's tag, carries the signature; the earlier
        # image does not
        assert signed.returncode == 0, signed.stdout + signed.stderr
        assert github_outputs(outputs.read_text())["signed"] == "true"
        for reference in (f"{image}@{digest}", f"{image}:1.2.3"):
            verified, output = verify(reference, keys.public_key, docker)
            assert verified, (reference, output)
        verified, output = verify(earlier, keys.public_key, docker)
        assert not verified and "no signatures found" in output.lower(), output
        assert keys.password not in signed.stdout + signed.stderr
    finally:
        run([REPO_ROOT / "action" / "logout.sh"], env=push_env)
        run(["docker", "rmi", earlier, f"{image}:1.2.3"], check=False)


# What action.yml gives summary.sh after a push to the default branch that tested, pushed and signed two platforms.
PUSHED_AND_SIGNED = {
    "TEST_OUTCOME": "success", "LOGIN_OUTCOME": "success", "PUSH_OUTCOME": "success", "SIGN_OUTCOME": "success",
    "PUSH_DECISION": "true", "E2E_EXIT_CODE": "0", "FAILING_SERVICE": "", "IMAGE_ID": f"sha256:{'1' * 64}",
    "PUSHED": "true", "REFS": "docker.io/team/app:0123abc\ndocker.io/team/app:latest", "DIGEST": f"sha256:{'2' * 64}",
    "SIGNED": "true", "TESTED_PLATFORMS": "linux/amd64,linux/arm64", "ATTEST": "true",
    "CACHE_REF": "docker.io/team/app:buildcache", "CACHE_KIND": "registry", "WRITE_CACHE": "true",
    "PUSH_BY_DIGEST": "false",
}  # fmt: skip


@pytest.mark.parametrize(
    ("run_", "verdict", "expected_rows"),
    [
        pytest.param({}, "passed", {
            "pushed": ["`docker.io/team/app:0123abc`", "`docker.io/team/app:latest`"],
            "digest": [f"`sha256:{'2' * 64}`"], "signature": ["cosign, with cosign-key"],
            "platforms tested end to end": ["linux/amd64,linux/arm64"],
        }, id="pushed-and-signed"),
        pytest.param({"SIGNED": "", "SIGN_OUTCOME": "failure"}, "failed", {
            "pushed": ["`docker.io/team/app:0123abc`", "`docker.io/team/app:latest`"],
            "signature": ["none: signing failed"],
        }, id="signing-failed"),
        pytest.param({"TEST_OUTCOME": "failure", "PUSH_OUTCOME": "skipped", "SIGN_OUTCOME": "skipped", "PUSHED": "",
                      "REFS": "", "DIGEST": "", "SIGNED": "", "E2E_EXIT_CODE": "1", "FAILING_SERVICE": "test-service"},
                     "failed", {"pushed": ["no: the tests did not pass"], "failing service": ["`test-service`"],
                                "end-to-end tests": ["failure (exit code 1)"]}, id="e2e-failed"),
        pytest.param({"PUSH_DECISION": "false", "LOGIN_OUTCOME": "skipped", "PUSH_OUTCOME": "skipped",
                      "SIGN_OUTCOME": "skipped", "PUSHED": "", "REFS": "", "DIGEST": "", "SIGNED": ""},
                     "passed", {"pushed": ["no: not a push to the default branch, or push: false"]}, id="pull-request"),
        pytest.param({"PUSH_BY_DIGEST": "true", "REFS": "", "SIGNED": "", "SIGN_OUTCOME": "skipped",
                      "TESTED_PLATFORMS": "linux/arm64"}, "passed", {
            "pushed": ["by digest alone, no tag: the merge action tags and signs the index"],
            "digest": [f"`sha256:{'2' * 64}`"], "platforms tested end to end": ["linux/arm64"], "signature": [],
        }, id="pushed-by-digest"),
    ],
)  # fmt: skip
def test_should_summarise_what_was_tested_pushed_and_signed(tmp_path, run_, verdict, expected_rows):
    # Given: what action.yml hands the summary step after such a run
    summary = tmp_path / "summary.md"
    env = {**os.environ, **PUSHED_AND_SIGNED, **run_, "GITHUB_STEP_SUMMARY": str(summary)}

    # When
    run([REPO_ROOT / "action" / "summary.sh"], env=env)

    # Then: the verdict, and each row a reader looks for
    text = summary.read_text(encoding="utf-8")
    heading = f"### tracker-ci: {verdict}"
    rows = markdown_table(text, heading)
    for name, values in expected_rows.items():
        assert [value for row_name, value in rows if row_name == name] == values, text


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
    assert re.search(r"::error::services did not become healthy on linux/\w+: web-service", result.stdout)
    assert "::group::Log of web-service (last 200 lines)" in result.stdout
    assert "Ready to accept connections" in result.stdout  # the service's own log, fenced
    assert "failing-service=web-service" in outputs.read_text()
    assert compose_leftovers(project) == []
