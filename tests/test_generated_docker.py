"""Baked projects on a real Docker engine: images build through their gates, Compose runs the e2e tests,
the published service counts and keeps its count, and a broken test fails the image build."""

import json
import shutil

import pytest

from harness import run
from projects import (
    app_source,
    built_compose_project,
    fresh_stack,
    image_bytes,
    runtime_base_image,
    runtime_image_leftovers,
)

pytestmark = pytest.mark.docker

VARIANTS = {
    "defaults": {},
    "py311-black-ghcr-redis7": {
        "python_version": "3.11",
        "style_gate": "black-isort-flake8",
        "registry": "ghcr.io",
        "image_namespace": "octo-org",
        "redis_version": "7.4-bookworm",
    },
}


@pytest.fixture(scope="session", params=sorted(VARIANTS))
def built_project(request, cookies_session, docker_engine):  # pylint: disable=unused-argument
    with built_compose_project(
        cookies_session, f"tracker-ci-test-{request.param}", **VARIANTS[request.param]
    ) as project:
        yield project


@pytest.fixture
def running_project(built_project):
    with fresh_stack(built_project) as project:
        yield project


def test_should_pass_the_documented_e2e_command(running_project):
    # When
    result = running_project.compose("--profile", "testing", "run", "--rm", "test-service")

    # Then
    assert "2 passed" in result.stdout


def test_should_get_every_service_healthy(running_project):
    # When
    listing = running_project.compose("ps", "--format", "json").stdout

    # Then
    services = [json.loads(line) for line in listing.splitlines() if line.strip()]
    assert {service["Service"]: service["Health"] for service in services} == {
        "redis-service": "healthy",
        "web-service": "healthy",
    }


def test_should_count_views_and_keep_the_count_across_restarts(running_project):
    # When
    first, second = running_project.get(), running_project.get()
    running_project.compose("down")
    running_project.compose("up", "--detach", "--wait", "--wait-timeout", "120")
    third = running_project.get()

    # Then
    assert [first.text, second.text, third.text] == [
        "This page has been seen 1 times.",
        "This page has been seen 2 times.",
        "This page has been seen 3 times.",
    ]
    assert running_project.get("/health").status_code == 200


def test_should_run_the_web_service_as_a_non_root_user(running_project):
    # When
    uid = running_project.compose("exec", "-T", "web-service", "id", "-u").stdout.strip()

    # Then
    assert uid not in ("", "0")


def test_should_keep_the_runtime_image_small_and_free_of_build_leftovers(built_project):
    # Given
    image = f"{built_project.name}-web-service"
    base = runtime_base_image(built_project.path)

    # When
    added = image_bytes(image) - image_bytes(base)
    found = runtime_image_leftovers(image)

    # Then: half of what the tutorial's runtime image adds (164 MB)
    assert added <= 82_000_000, f"runtime image adds {added / 1e6:.1f} MB over {base}"
    assert found == []


# Breakages of app.py that exactly one gate catches: (the change, what the build log must show).
BROKEN_GATES = {
    # The tutorial's experiment: a changed error emoji fails a unit test.
    "unit-test": (
        lambda source: source.replace("\\N{PENSIVE FACE}", "\\N{FACE WITH TEARS OF JOY}"),
        "FAILED test/unit/test_app.py::test_should_handle_redis_connection_error",
    ),
    # A misspelt Redis command in unused code: only pylint's inference sees it; it runs in the background.
    "pylint-only": (
        lambda source: source + '\n\ndef count_twice():\n    return Redis().incrr("page_views")\n',
        "Instance of 'Redis' has no 'incrr' member",
    ),
}


@pytest.mark.parametrize("gate", sorted(BROKEN_GATES))
def test_should_fail_the_image_build_when_a_gate_fails(built_project, tmp_path, gate):
    # Given
    break_source, expected = BROKEN_GATES[gate]
    broken = tmp_path / built_project.path.name
    shutil.copytree(built_project.path, broken)
    app = app_source(broken)
    source = app.read_text(encoding="utf-8")
    assert break_source(source) != source
    app.write_text(break_source(source), encoding="utf-8")

    # When: --force-rm, because the classic builder keeps the failed step's container otherwise
    result = run(["docker", "build", "--force-rm", "--target", "builder", broken / "web"], check=False)

    # Then
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert expected in output
