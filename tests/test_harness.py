"""The harness itself: each real part the other tests lean on does what they assume."""

import itertools
import secrets
import socket
import subprocess
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import pytest
import redis
import yaml

from testkit.action import ACTION_FILE, MERGE_ACTION_FILE, ActionSteps
from testkit.harness import git_commit, run, wait_until
from testkit.load import Traffic, slow_clients
from testkit.template import base_image_args, derived

PYTHON_IMAGE = derived("__python_image")
REDIS_IMAGE = derived("__redis_image")


def test_should_list_every_base_image_the_template_can_reference_the_default_builds_for_every_platform():
    # Given
    context = {
        "python_version": ["3.13", "3.11"],
        "redis_version": ["8.10-trixie"],
        "platforms": ["linux/amd64", "linux/arm64,linux/amd64"],
    }

    # When
    args = base_image_args(context)

    # Then: the first Python is the default's; uv's image serves every build
    assert args == [
        "python:3.11-slim-trixie",
        "redis:8.10-trixie",
        "haproxy:3.4",
        "--platforms=linux/amd64,linux/arm64",
        "python:3.13-slim-trixie",
        derived("__uv_image"),
    ]


def test_should_return_what_the_condition_returns_once_it_holds():
    # Given: a condition that holds on its third look
    looks = iter([None, 0, "ready"])

    # When / Then
    assert wait_until(lambda: next(looks), timeout=5, what="the third look", interval=0.01) == "ready"


def test_should_fail_naming_what_it_waited_for_when_the_condition_never_holds():
    # Given: a condition that never holds, looked at until the time is up
    looks = []

    # When
    with pytest.raises(TimeoutError, match="gave up after 0.3 s waiting for a page that never changes"):
        wait_until(lambda: looks.append(1), timeout=0.3, what="a page that never changes", interval=0.05)

    # Then: it kept looking until the time was up, not once
    assert len(looks) >= 3


@contextmanager
def _loopback_server(handle: Callable[[socket.socket, int], None]) -> Iterator[str]:
    """A TCP server on a free loopback port that hands each connection, with its number from 0, to `handle` in a
    thread of its own; yields its URL, and closes every connection on the way out."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(0.1)
    stopping, accepted = threading.Event(), []

    def serve():
        for number in itertools.count():
            while not stopping.is_set():
                try:
                    connection, _ = listener.accept()
                    break
                except TimeoutError:
                    continue
            else:
                return
            accepted.append(connection)
            threading.Thread(target=handle, args=(connection, number), daemon=True).start()

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}/"
    finally:
        stopping.set()
        server.join()
        listener.close()
        for connection in accepted:
            connection.close()


def _count_pages(connection: socket.socket, _: int) -> None:
    """Answers each keep-alive GET with the app's page, its count rising."""
    with connection, connection.makefile("rb") as requests_in:
        for count in itertools.count(1):
            while (line := requests_in.readline()) not in (b"\r\n", b""):
                pass
            if not line:
                return
            page = f"This page has been seen {count} times.".encode()
            connection.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(page), page))


def test_should_stop_the_continuous_load_by_itself_after_its_seconds_or_its_limit():
    # Given: a server that answers every request at once
    with _loopback_server(_count_pages) as url:
        # When
        by_time, by_limit = Traffic(url, seconds=0.5), Traffic(url, limit=3)
        for traffic in (by_time, by_limit):
            traffic.start()
            traffic.join(timeout=10)

    # Then: each stopped unasked, having recorded what it saw
    assert not by_time.is_alive() and not by_limit.is_alive()
    assert len(by_limit.statuses) == 3 and set(by_time.statuses) == {200}
    assert by_limit.counts == [1, 2, 3] and len(by_time.spans) == len(by_time.statuses) > 3


def test_should_find_the_requests_under_way_at_a_moment():
    # Given: three requests, the second spanning the moment 5.0
    traffic = Traffic("http://127.0.0.1:1/")
    traffic.spans = [(1.0, 2.0), (4.0, 6.0), (7.0, 8.0)]

    # When / Then
    assert traffic.under_way(5.0, 5.0) == [1]
    assert traffic.under_way(1.5, 7.5) == [0, 1, 2]
    assert traffic.under_way(2.5, 3.5) == []


# What the server does with each slow client, by its number: close without a word, answer 408, or stay silent.
SLOW_CLIENT_FATES = [b"", b"HTTP/1.1 408 Request Time-out\r\n\r\n", None]


def _meet_slow_client(connection: socket.socket, number: int) -> None:
    connection.recv(4096)  # its half request: closing with it unread would reset the connection, answer and all
    fate = SLOW_CLIENT_FATES[number]
    if fate is not None:
        connection.sendall(fate)
        connection.close()


def test_should_tell_a_slow_client_closed_answered_or_still_held():
    # Given: three slow clients, each met differently by the server
    with _loopback_server(_meet_slow_client) as url, slow_clients(url, len(SLOW_CLIENT_FATES)) as clients:
        # When
        answers = clients.answers_within(1)

    # Then: what each got, and None only for the one still held open
    assert answers == SLOW_CLIENT_FATES


def test_should_count_in_a_real_redis_server(redis_server):
    # Given
    client = redis.Redis.from_url(redis_server)
    key = f"harness-{secrets.token_hex(4)}"

    # When
    counts = [client.incr(key) for _ in range(3)]

    # Then
    assert counts == [1, 2, 3]


@pytest.mark.docker
def test_should_pip_install_from_pypi_inside_the_python_base_image(docker_engine):
    # Given
    minor = PYTHON_IMAGE.split(":")[1].split("-")[0]
    script = (
        "python3 --version && python3 -m venv /tmp/venv && "
        "/tmp/venv/bin/pip install --quiet --disable-pip-version-check six==1.16.0 && "
        "/tmp/venv/bin/python -c 'import six; print(six.__version__)'"
    )

    # When
    result = run(["docker", "run", "--rm", PYTHON_IMAGE, "sh", "-c", script], timeout=300)

    # Then
    assert result.stdout.startswith(f"Python {minor}.")
    assert result.stdout.strip().endswith("1.16.0")


@pytest.mark.docker
def test_should_answer_ping_from_redis_image_on_a_user_defined_network(docker_engine):
    # Given
    name = f"tracker-ci-harness-{secrets.token_hex(4)}"
    run(["docker", "network", "create", name])
    try:
        run(["docker", "run", "-d", "--name", name, "--network", name, "--network-alias", "redis", REDIS_IMAGE])

        # When
        ping = "for i in $(seq 50); do redis-cli -h redis ping && exit 0; sleep 0.2; done; exit 1"
        result = run(["docker", "run", "--rm", "--network", name, REDIS_IMAGE, "sh", "-c", ping])

        # Then
        assert "PONG" in result.stdout
        server_uids = run(["docker", "top", name, "-o", "pid,uid"]).stdout.split()[3::2]
        assert server_uids and "0" not in server_uids
    finally:
        run(["docker", "rm", "-f", "-v", name], check=False)
        run(["docker", "network", "rm", name], check=False)


def _login(registry, password, env) -> subprocess.CompletedProcess:
    return run(
        ["docker", "login", registry.host, "--username", registry.username, "--password-stdin"],
        input=password,
        env=env,
        check=False,
    )


@pytest.mark.docker
@pytest.mark.parametrize("host", ["docker.io", "ghcr.io"])
def test_should_push_to_the_stand_in_hub_under_the_real_name_only_with_the_right_password(
    stand_in_hub, tiny_image, docker_config, host
):
    # Given
    registry = stand_in_hub.registry(host)
    repository = f"harness{secrets.token_hex(3)}/tiny"
    target = f"{host}/{repository}:v1"
    run(["docker", "tag", tiny_image, target])

    try:
        # When / Then: without login
        anonymous = run(["docker", "push", target], env=docker_config, check=False)
        assert anonymous.returncode != 0
        assert "no basic auth credentials" in anonymous.stderr + anonymous.stdout

        # When / Then: wrong password
        wrong = _login(registry, registry.password + "x", docker_config)
        assert wrong.returncode != 0
        assert "Login Succeeded" not in wrong.stdout
        if host == "docker.io":
            # (Docker 28 takes a registry on 127.0.0.0/8 for an insecure one, except Docker Hub: after the
            # stand-in GHCR's 401 it retries over plain HTTP, and reports that retry's refused connection.)
            assert "401" in wrong.stderr or "unauthorized" in wrong.stderr.lower()

        # When / Then: right password
        assert _login(registry, registry.password, docker_config).returncode == 0
        run(["docker", "push", target], env=docker_config)
        assert registry.tags(repository) == ["v1"]

        # Then: Docker names Docker Hub images in the short form (no docker.io/), other registries in full
        repo_digests = run(["docker", "image", "inspect", "--format", "{{json .RepoDigests}}", target]).stdout
        short = repository if host == "docker.io" else f"{host}/{repository}"
        assert f'"{short}@{registry.manifest_digest(repository, "v1")}"' in repo_digests
    finally:
        run(["docker", "rmi", target], check=False)


@pytest.mark.act
def test_should_pass_a_step_output_to_a_later_step_under_act(act_runner, tmp_path):
    # Given
    token = secrets.token_hex(6)
    repo = tmp_path / "repo"
    workflow = repo / ".github" / "workflows" / "two-steps.yml"
    workflow.parent.mkdir(parents=True)
    workflow.write_text(
        f"""on: push
jobs:
  two-steps:
    runs-on: ubuntu-latest
    steps:
      - id: first
        run: echo "token={token}" >> "$GITHUB_OUTPUT"
      - env:
          TOKEN: ${{{{ steps.first.outputs.token }}}}
        run: test "$TOKEN" = "{token}" && echo "second step got $TOKEN"
""",
        encoding="utf-8",
    )
    git_commit(repo, "A two-step workflow")

    # When
    result = act_runner.run(repo, "push")

    # Then
    assert result.exit_code == 0, result.log
    assert f"second step got {token}" in result.log


# A composite action of two steps: the second's env takes an input given, one left at its default, the first step's
# output, the github context, and a property the context lacks.
TWO_STEP_ACTION = """inputs:
  greeting: {default: hello}
  name: {required: true}
runs:
  using: composite
  steps:
    - id: first
      shell: bash
      run: 'echo "word=$(cat "$GITHUB_ACTION_PATH/word.txt")" >>"$GITHUB_OUTPUT"'
    - id: second
      shell: bash
      env:
        LINE: ${{ inputs.greeting }}, ${{ inputs.name }} - ${{ steps.first.outputs.word }}
        BRANCH: ${{ github.event.repository.default_branch }}
        MISSING: ${{ github.event.pull_request.number }}
      run: 'echo "said=$LINE on $BRANCH${MISSING:-, no pull request}" >>"$GITHUB_OUTPUT"'
"""


def test_should_give_each_step_of_an_action_the_environment_its_action_file_wires(tmp_path):
    # Given: an action file beside the file its first step reads, and a push to trunk
    (tmp_path / "action.yml").write_text(TWO_STEP_ACTION, encoding="utf-8")
    (tmp_path / "word.txt").write_text("tested", encoding="utf-8")
    github = {"event_name": "push", "event": {"repository": {"default_branch": "trunk"}}}
    steps = ActionSteps(tmp_path / "action.yml", {"name": "Ada"}, github, {"RUNNER_TEMP": str(tmp_path)})

    # When
    steps.run("first")
    outputs = steps.run("second")

    # Then
    assert outputs == {"said": "hello, Ada - tested on trunk, no pull request"}


@pytest.mark.parametrize(
    ("inputs", "message"),
    [({"name": "Ada", "colour": "red"}, "declares no input colour"), ({}, "requires the input name")],
    ids=["undeclared", "required-missing"],
)
def test_should_refuse_inputs_an_action_file_does_not_take(tmp_path, inputs, message):
    # Given
    (tmp_path / "action.yml").write_text(TWO_STEP_ACTION, encoding="utf-8")

    # When / Then
    with pytest.raises(ValueError, match=message):
        ActionSteps(tmp_path / "action.yml", inputs, {}, {"RUNNER_TEMP": str(tmp_path)})


@pytest.mark.parametrize("action_file", [ACTION_FILE, MERGE_ACTION_FILE], ids=["action", "merge"])
def test_should_fill_every_step_environment_of_our_actions(action_file, tmp_path):
    # Given: each required input given
    declared = yaml.safe_load(action_file.read_text(encoding="utf-8"))["inputs"]
    steps = ActionSteps(action_file, {name: "x" for name, spec in declared.items() if spec.get("required")}, {}, {})

    # When
    environments = {step["id"]: steps.step_env(step["id"]) for step in steps.steps}

    # Then: every expression there has a value (the benchmarks run the steps so)
    assert environments and [(step, env) for step, env in environments.items() if "${{" in str(env)] == []
