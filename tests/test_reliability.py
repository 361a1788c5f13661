"""The generated service on the real Compose stack, under attempts to break it: concurrency, a Redis
outage, a crash of Redis, clients without the password, the app's Redis login, privileges, and bad HTTP input."""

import json
import time

import pytest
import requests

from testkit.compose import (
    BEYOND_THE_APP,
    THE_TESTS_READS,
    ComposeProject,
    built_compose_project,
    fresh_stack,
    refused_to_the_app,
)
from testkit.harness import run, wait_until
from testkit.load import SEEN, Traffic, bounded_load
from testkit.template import derived

pytestmark = pytest.mark.docker


@pytest.fixture(scope="module")
def stack_project(cookies_session, docker_engine):  # pylint: disable=unused-argument
    with built_compose_project(cookies_session, "tracker-ci-sturdy", project_name="Sturdy Tracker") as project:
        yield project


@pytest.fixture
def stack(stack_project):
    with fresh_stack(stack_project) as project:
        yield project


def _counter(project: ComposeProject) -> int:
    value = project.redis_cli("--no-raw", "GET", "page_views").stdout
    return int(value.strip().strip('"') or 0) if "nil" not in value else 0


def _container(project: ComposeProject, service: str) -> dict:
    container_id = project.compose("ps", "--quiet", service).stdout.strip()
    return json.loads(run(["docker", "inspect", container_id]).stdout)[0]


def test_should_count_exactly_under_concurrent_load(stack):
    # When
    statuses = bounded_load(f"http://127.0.0.1:{stack.web_port}/", total=20_000, connections=64)

    # Then
    assert statuses == {200: 20_000}
    assert _counter(stack) == 20_000


def _probe_exit_code(project: ComposeProject, service: str) -> int:
    """Runs the service's own health probe (as Docker runs it, from the container's config) once."""
    container = _container(project, service)
    kind, *command = container["Config"]["Healthcheck"]["Test"]
    assert kind == "CMD", kind
    return run(["docker", "exec", container["Id"], *command], check=False).returncode


def test_should_probe_web_health_through_redis(stack):
    # Given
    assert _probe_exit_code(stack, "web-service") == 0

    # When
    stack.compose("stop", "redis-service")
    while_down = _probe_exit_code(stack, "web-service")
    stack.compose("start", "redis-service")

    # Then
    assert while_down != 0
    wait_until(lambda: _probe_exit_code(stack, "web-service") == 0, timeout=30, what="the probe to pass again")


def test_should_apologise_during_a_redis_outage_and_recover_without_a_restart(stack):
    # Given
    web_before = _container(stack, "web-service")
    assert stack.get().text == "This page has been seen 1 times."
    traffic = Traffic(f"http://127.0.0.1:{stack.web_port}/")
    traffic.start()

    # When: Redis goes away under traffic
    time.sleep(1)
    stack.compose("stop", "redis-service")
    count_before_outage = _highest_count(traffic)
    during, health = stack.get(), stack.get("/health")
    stack.compose("start", "redis-service")
    first_answers = []
    recovered_after = _seconds_until(lambda: _answered(stack.get(), first_answers), limit=30)
    time.sleep(1)  # requests already waiting on the dead connection finish; the next ones must succeed
    traffic.stop()

    # Then
    assert (during.status_code, during.text) == (500, "Sorry, something went wrong \N{PENSIVE FACE}")
    assert (health.status_code, health.text) == (503, "Redis is unavailable")
    assert 500 in traffic.statuses, "the traffic never saw the outage"
    last_failure = max(index for index, status in enumerate(traffic.statuses) if status == 500)
    assert traffic.statuses[-1] == 200 and 200 in traffic.statuses[last_failure:]
    assert recovered_after < 10
    web_after = _container(stack, "web-service")
    assert web_after["Id"] == web_before["Id"] and web_after["RestartCount"] == 0
    assert web_after["State"]["StartedAt"] == web_before["State"]["StartedAt"]
    # The count went on from the persisted value instead of starting again at 1.
    assert int(SEEN.fullmatch(first_answers[0].text).group(1)) > count_before_outage > 1
    assert _counter(stack) >= traffic.highest_seen


def _highest_count(traffic: "Traffic") -> int:
    time.sleep(0.5)  # let requests in flight when Redis stopped finish
    return traffic.highest_seen


def _answered(response, answers: list) -> bool:
    if response.status_code == 200:
        answers.append(response)
    return response.status_code == 200


def _seconds_until(predicate, limit: float) -> float:
    started = time.monotonic()

    def attempt():
        try:
            return predicate()
        except requests.RequestException:
            return False

    wait_until(attempt, timeout=limit, what="the service to answer 200 again", interval=0.2)
    return time.monotonic() - started


@pytest.mark.parametrize("policy", ["everysec", "always"])
def test_should_keep_every_acknowledged_count_when_redis_is_killed(stack_project, policy):
    # Given
    stack_project.tear_down()
    env = {**stack_project.env, "REDIS_APPENDFSYNC": policy}
    run(["docker", "compose", "up", "--detach", "--wait"], cwd=stack_project.path, env=env, timeout=300)
    try:
        traffic = Traffic(f"http://127.0.0.1:{stack_project.web_port}/")
        traffic.start()
        time.sleep(3)
        ok_before_kill = traffic.statuses.count(200)

        # When
        redis_id = _container(stack_project, "redis-service")["Id"]
        run(["docker", "kill", "--signal", "KILL", redis_id])
        time.sleep(1)
        traffic.stop()
        run(["docker", "compose", "start", "redis-service"], cwd=stack_project.path, env=env)
        wait_until(lambda: _redis_answers(stack_project), timeout=30, what="Redis to load its data and answer")

        # Then: everysec may lose at most about a second of writes, always nothing acknowledged
        recovered = _counter(stack_project)
        allowed_loss = ok_before_kill / 3 if policy == "everysec" else 0
        assert ok_before_kill > 0
        assert recovered >= traffic.highest_seen - allowed_loss, (recovered, traffic.highest_seen)
    finally:
        stack_project.tear_down()


def _redis_answers(project: ComposeProject) -> bool:
    """Redis answers PING (while it loads its data it answers LOADING)."""
    return project.redis_cli("PING", check=False).stdout.strip() == "PONG"


def test_should_refuse_redis_clients_without_the_password(stack):
    # When
    anonymous = stack.compose("exec", "-T", "redis-service", "redis-cli", "ping", check=False)
    port_bindings = _container(stack, "redis-service")["HostConfig"]["PortBindings"]

    # Then
    assert "NOAUTH" in anonymous.stdout + anonymous.stderr
    assert not port_bindings, f"Redis must not be published to the host: {port_bindings}"


def test_should_allow_the_apps_redis_login_only_the_apps_and_its_tests_commands(stack):
    # Given: the app's password, and Redis's own login for operators
    package = derived("__package_name", project_name="Sturdy Tracker")
    web = stack.compose("ps", "--quiet", "web-service").stdout.strip()

    # When: the app's own client, in the web container, tries what an intruder there would, and what the tests read;
    # and the app's password is tried as the default user's
    refused = run(["docker", "exec", web, *refused_to_the_app(package, *BEYOND_THE_APP, *THE_TESTS_READS)])
    apps_password_as_default = 'REDISCLI_AUTH="$(cat /run/secrets/redis-password)" redis-cli ping'
    as_default_user = stack.compose("exec", "-T", "redis-service", "sh", "-c", apps_password_as_default, check=False)

    # Then: refused all but the tests' reads; the app's password opens no other login; the app still counts
    assert refused.stdout.splitlines() == list(BEYOND_THE_APP)
    assert "WRONGPASS" in as_default_user.stdout + as_default_user.stderr
    assert stack.get().status_code == 200


def test_should_keep_the_redis_password_out_of_inspect_environment_arguments_and_logs(stack):
    # Given: a running stack that counts, so the app did log in with the secret
    assert stack.get().status_code == 200
    password = stack.password

    # When
    containers = stack.compose("--profile", "testing", "ps", "--all", "--quiet").stdout.split()
    seen = {
        "docker inspect": run(["docker", "inspect", *containers]).stdout,
        "compose config": stack.compose("--profile", "testing", "config").stdout,
        "host processes": run(["ps", "-eww", "-o", "args"]).stdout,
        "container environments": "".join(
            run(["docker", "exec", container, "cat", "/proc/1/environ"]).stdout for container in containers
        ),
        "logs": stack.compose("logs", "--no-color").stdout,
    }

    # Then
    assert len(containers) == 2
    assert [where for where, text in seen.items() if password in text] == []
    assert stack.redis_cli("ping").stdout.strip() == "PONG"


def test_should_run_the_web_container_with_least_privilege(stack):
    # When
    web = _container(stack, "web-service")
    config = json.loads(stack.compose("--profile", "testing", "config", "--format", "json").stdout)
    test_image_user = run(
        ["docker", "image", "inspect", "--format", "{{.Config.User}}", f"{stack.name}-test-service"]
    ).stdout.strip()

    # Then
    assert web["Config"]["User"] not in ("", "0", "root")
    assert web["HostConfig"]["ReadonlyRootfs"] is True
    assert web["HostConfig"]["CapDrop"] == ["ALL"]
    assert "no-new-privileges:true" in web["HostConfig"]["SecurityOpt"]
    assert test_image_user not in ("", "0", "root")
    assert config["services"]["test-service"]["cap_drop"] == ["ALL"]


def test_should_reject_bad_http_input_and_keep_serving(stack):
    # Given
    workers_before = run(["docker", "top", _container(stack, "web-service")["Id"], "-o", "pid"]).stdout.split()

    # When
    unknown = stack.get("/no-such-page")
    post = requests.post(f"http://127.0.0.1:{stack.web_port}/", timeout=5)
    oversized = requests.get(f"http://127.0.0.1:{stack.web_port}/", headers={"X-Big": "x" * 20_000}, timeout=5)
    after = stack.get()

    # Then
    assert unknown.status_code == 404
    assert post.status_code == 405
    assert oversized.status_code in (400, 431)
    assert after.status_code == 200
    workers_after = run(["docker", "top", _container(stack, "web-service")["Id"], "-o", "pid"]).stdout.split()
    assert workers_after == workers_before, "a worker died or was replaced"


BAD_SETTINGS = [
    pytest.param(
        ["-e", "REDIS_URL=localhost:6379"],
        "REDIS_URL is not a valid Redis URL: Redis URL must specify one of the following schemes"
        " (redis://, rediss://, unix://)",
        id="malformed-redis-url",
    ),
    pytest.param(
        ["-e", "REDIS_PASSWORD_FILE=/run/secrets/missing"],
        "REDIS_PASSWORD_FILE cannot be read: No such file or directory: /run/secrets/missing",
        id="missing-password-file",
    ),
    pytest.param(
        ["-e", "REDIS_PASSWORD_FILE=/dev/null"],
        "REDIS_PASSWORD_FILE is empty: /dev/null",
        id="empty-password-file",
    ),
]


@pytest.mark.parametrize(("settings", "expected"), BAD_SETTINGS)
def test_should_stop_with_one_clear_line_on_a_bad_setting(stack_project, settings, expected):
    # When
    image = f"{stack_project.name}-web-service"
    result = run(["docker", "run", "--rm", *settings, image], check=False, timeout=60)

    # Then
    output = (result.stdout + result.stderr).strip()
    assert result.returncode != 0
    assert output.splitlines() == [expected]
