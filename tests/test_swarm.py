"""The generated deploy/ on a real three-node Docker Swarm (testkit.swarm): the pushed image deployed by digest
behind the HAProxy edge, scaled, rolled forward and back, its tasks and nodes stopped, all under load, with
every request counted exactly once. The tests run in file order on one stack, as an operator's day would."""

import json
import math
import time
from collections import Counter

import pytest
import requests
import yaml

from testkit.compose import BEYOND_THE_APP, REDIS_CLI_AS_OPERATOR, THE_TESTS_READS, refused_to_the_app
from testkit.harness import run, wait_until
from testkit.load import SEEN, Traffic, bounded_load, slow_clients
from testkit.projects import bake, change_code_only, unique_name
from testkit.stack import SwarmProject, base_images, build_web_image, wait_for_the_edge
from testkit.template import DEFAULT_ANSWERS, derived

pytestmark = pytest.mark.swarm

STACK = derived("__package_name")  # deploy.sh's default stack name
WEB = f"{STACK}_web-service"
REDIS = f"{STACK}_redis-service"
SERVICES = [WEB, REDIS, f"{STACK}_proxy-service"]
# What each change took, for the closing note and the README (printed at the end of the module).
TIMES = {}
REDIS_APPENDFSYNC = "always"
assert REDIS_APPENDFSYNC != DEFAULT_ANSWERS["redis_appendfsync"]


@pytest.fixture(scope="module")
def release(cookies_session, swarm):
    """v1 and v2 of a project with deploy=swarm, pushed to the swarm's registry by digest; v3, v2 with a web
    server on the wrong port, whose health check fails; the base images in the nodes' mirror. Its Redis syncs on
    every write (REDIS_APPENDFSYNC), not the default answer: a value hard-coded on the way to the server shows."""
    project = bake(cookies_session, deploy="swarm", redis_appendfsync=REDIS_APPENDFSYNC)
    name = unique_name("tracker-ci-deploy")
    v1 = swarm.push(build_web_image(project, name), "realpython/page-tracker:v1")
    change_code_only(project, "v2")
    v2_image = build_web_image(project, name)
    v2 = swarm.push(v2_image, "realpython/page-tracker:v2")
    v3_image = f"{name}-unhealthy"
    run(["docker", "build", "--tag", v3_image, "-"], input=f'FROM {v2_image}\nCMD ["gunicorn", "--bind", '
        f'"0.0.0.0:8001", "{STACK}.app:app"]\n', timeout=300)  # fmt: skip
    v3 = swarm.push(v3_image, "realpython/page-tracker:v3")
    swarm.mirror(*base_images(deploy="swarm"))
    deployed = SwarmProject(swarm, project)
    deployed.upload()
    try:
        yield {"v1": v1, "v2": v2, "v3": v3, "project": deployed}
    finally:
        run(["docker", "rmi", v2_image, v3_image], check=False)
        print("\nswarm times:", json.dumps(TIMES))


@pytest.fixture
def deployed(swarm, release):
    """The stack deployed (v1, when a test finds none) and served by every node's proxy, so that each test passes
    when run alone; a test that changes the stack leaves it deployed for the next."""
    if WEB not in swarm.manager.docker("service", "ls", "--format", "{{.Name}}").stdout.split():
        release["project"].deploy(release["v1"])
    wait_for_the_edge(swarm)


def _count(project: SwarmProject, node) -> int:
    count = _count_or_none(project, node)
    assert count is not None, f"{project.url(node)} showed no count"
    return count


def _web_tasks(swarm) -> list[dict]:
    lines = swarm.manager.docker(
        "service", "ps", "--no-trunc", "--filter", "desired-state=running", "--format", "{{json .}}", WEB
    ).stdout.splitlines()
    return [json.loads(line) for line in lines]


def _assert_counted_once(traffics: list[Traffic], before: int, after: int, proxies, allowed_lost: int = 0) -> None:
    """Every 200 showed a count no other request showed, and the counter rose by the 200s (plus the one
    request that read `after`), so nothing was counted twice; `allowed_lost` requests may have failed (and if
    more did, the proxies' log lines of the failures say how)."""
    statuses = Counter(status for traffic in traffics for status in traffic.statuses)
    counts = [count for traffic in traffics for count in traffic.counts]
    failed = sum(number for status, number in statuses.items() if status != 200)
    assert failed <= allowed_lost, f"{statuses}\n{_proxy_log_of_failures(proxies)}"
    assert statuses[200] > 100, statuses
    assert len(counts) == len(set(counts)) == statuses[200]
    assert before + statuses[200] + 1 <= after <= before + statuses[200] + 1 + failed


def _under_load(project: SwarmProject, nodes) -> list[Traffic]:
    traffics = [Traffic(project.url(node), seconds=240) for node in nodes for _ in range(2)]
    for traffic in traffics:
        traffic.start()
    time.sleep(1)
    return traffics


def _stop(traffics: list[Traffic]) -> None:
    time.sleep(1)
    for traffic in traffics:
        traffic.stop()


def test_should_deploy_the_pushed_digest_on_every_node_and_count_exactly(swarm, release):
    # Given
    project = release["project"]

    # When
    started = time.monotonic()
    result = project.deploy(release["v1"])
    TIMES["first deploy"] = round(time.monotonic() - started, 1)

    # Then: every service converged, the web tasks run the digest, one on each node
    assert result.stdout.rstrip().endswith(f"deploy: stack {STACK} converged"), result.stdout
    spec_image = swarm.manager.docker(
        "service", "inspect", "--format", "{{.Spec.TaskTemplate.ContainerSpec.Image}}", WEB
    ).stdout.strip()
    assert spec_image == release["v1"]
    assert sorted(task["Node"] for task in _web_tasks(swarm)) == ["node1", "node2", "node3"]

    # Then: requests through any node's proxy count exactly, once the new proxies have found the tasks
    wait_for_the_edge(swarm)
    before = _count(project, swarm.nodes[0])
    statuses = bounded_load(project.url(swarm.nodes[1]), total=900, connections=9)
    assert statuses == {200: 900}
    assert _count(project, swarm.nodes[2]) == before + 901
    # ... against a Redis that syncs its append-only file as the project's answer says: the server's own word
    assert _redis_cli(swarm, "--raw", "CONFIG", "GET", "appendfsync").split() == ["appendfsync", REDIS_APPENDFSYNC]


def _redis_cli(swarm, *args) -> str:
    """redis-cli in the stack's Redis container (on the manager, which deploy.sh labelled for it), logged in as an
    operator (REDIS_CLI_AS_OPERATOR)."""
    container = _containers_of(swarm.manager, REDIS)[0]
    return swarm.manager.docker("exec", container, *REDIS_CLI_AS_OPERATOR, *args).stdout


@pytest.mark.usefixtures("deployed")
def test_should_keep_the_redis_password_out_of_the_swarm(swarm, release):
    # Given
    password = (release["project"].path / "secrets" / "redis-password").read_text(encoding="utf-8")

    # When
    seen = {"host processes": run(["ps", "-eww", "-o", "args"]).stdout}
    seen["service inspect"] = swarm.manager.docker("service", "inspect", *SERVICES).stdout
    seen["service logs"] = "".join(swarm.manager.docker("service", "logs", service).stdout for service in SERVICES)
    for node in swarm.nodes:
        containers = node.docker("ps", "--quiet").stdout.split()
        seen[f"{node.name} inspect"] = node.docker("inspect", *containers).stdout
        seen[f"{node.name} processes"] = node.shell("ps -eww -o args").stdout
        seen[f"{node.name} environments"] = node.shell(
            'for container in "$@"; do docker exec "$container" cat /proc/1/environ; done', *containers
        ).stdout

    # Then
    assert [where for where, text in seen.items() if password in text] == []
    assert "redis-password" in seen["service inspect"]  # the secret is there, by reference only


@pytest.mark.usefixtures("deployed")
def test_should_scale_out_and_in_under_load_without_a_failed_request(swarm, release):
    # Given
    project = release["project"]
    before = _count(project, swarm.nodes[0])
    traffics = _under_load(project, swarm.nodes)

    # When
    for replicas in (1, 5, 2):
        started = time.monotonic()
        project.deploy(release["v1"], WEB_REPLICAS=replicas)
        TIMES[f"scale to {replicas}"] = round(time.monotonic() - started, 1)
        assert len(_web_tasks(swarm)) == replicas
    _stop(traffics)

    # Then
    _assert_counted_once(traffics, before, _count(project, swarm.nodes[0]), swarm.nodes)


@pytest.mark.usefixtures("deployed")
def test_should_roll_forward_and_roll_a_failing_version_back_without_a_failed_request(swarm, release):
    # Given
    project = release["project"]
    before = _count(project, swarm.nodes[0])
    traffics = _under_load(project, swarm.nodes)

    # When: v2, then v3 whose tasks never get healthy
    started = time.monotonic()
    forward = project.deploy(release["v2"])
    TIMES["rolling update of 3"] = round(time.monotonic() - started, 1)
    started = time.monotonic()
    back = project.deploy(release["v3"], check=False, DEPLOY_TIMEOUT=180)
    TIMES["failed update rolled back"] = round(time.monotonic() - started, 1)
    _stop(traffics)

    # Then
    assert forward.returncode == 0, forward.stdout + forward.stderr
    assert back.returncode != 0, back.stdout + back.stderr
    assert f"{WEB} failed: rolled back to the previous version" in back.stdout
    assert "deploy: not deployed: " + WEB in back.stderr
    assert {task["Image"] for task in _web_tasks(swarm)} == {release["v2"]}
    assert len(_web_tasks(swarm)) == 3
    _assert_counted_once(traffics, before, _count(project, swarm.nodes[0]), swarm.nodes)


def _running_web_tasks_on(swarm, nodes: set) -> bool:
    tasks = _web_tasks(swarm)
    return (
        len(tasks) == 3
        and all(task["CurrentState"].startswith("Running") for task in tasks)
        and ({task["Node"] for task in tasks} <= nodes)
    )


@pytest.mark.usefixtures("deployed")
def test_should_reschedule_a_stopped_task_and_a_drained_node_without_a_failed_request(swarm, release):
    # Given: a web task on every node, load through the proxies of the first two; the third will be taken out
    project = release["project"]
    _spread_web_tasks(swarm, release)
    first_two, third = swarm.nodes[:2], swarm.nodes[2]
    before = _count(project, swarm.nodes[0])
    traffics = _under_load(project, first_two)
    every_node = {"node1", "node2", "node3"}

    # When: a web task's container stopped
    started = time.monotonic()
    node, container = _a_web_task_container(swarm)
    node.docker("stop", container)
    wait_until(lambda: _running_web_tasks_on(swarm, every_node) and len(_web_tasks(swarm)) == 3, 60, "3 web tasks")
    TIMES["stopped task replaced"] = round(time.monotonic() - started, 1)

    # When: the third node taken out as operators do it: drained, its tasks running elsewhere, then stopped
    started = time.monotonic()
    swarm.manager.docker("node", "update", "--availability", "drain", third.hostname)
    try:
        wait_until(lambda: _running_web_tasks_on(swarm, {"node1", "node2"}), 90, "the web tasks to leave node3")
        TIMES["drained node's tasks rescheduled"] = round(time.monotonic() - started, 1)
        run(["docker", "stop", third.name])
        _stop(traffics)
    finally:
        _bring_back(swarm, third)

    # Then
    _assert_counted_once(traffics, before, _count(project, swarm.nodes[0]), first_two)


def _spread_web_tasks(swarm, release) -> None:
    """A web task on every node again: scaled to none and back (Swarm never moves running tasks, and a forced
    update does not spread them reliably)."""
    project = release["project"]
    project.deploy(release["v2"], WEB_REPLICAS=0)
    project.deploy(release["v2"])
    assert sorted(task["Node"] for task in _web_tasks(swarm)) == ["node1", "node2", "node3"]
    wait_for_the_edge(swarm)


def _bring_back(swarm, node) -> None:
    """Starts a stopped, drained or killed node again, available for tasks, and waits until its proxy serves."""
    swarm.manager.docker("node", "update", "--availability", "active", node.hostname)
    run(["docker", "start", node.name])
    wait_until(node.engine_answers, 60, f"the engine of {node.name}", interval=0.5)
    proxy = ["service", "ps", "--filter", "desired-state=running", "--filter", f"node={node.hostname}"]
    wait_until(
        lambda: (
            swarm.manager.docker(*proxy, "--format", "{{.CurrentState}}", SERVICES[2], check=False)
            .stdout.strip()
            .startswith("Running")
        ),
        60,
        f"the proxy on {node.hostname}",
        interval=0.5,
    )


def _a_web_task_container(swarm) -> tuple:
    """A running web task's node and container ID."""
    task = _web_tasks(swarm)[0]
    node = next(node for node in swarm.nodes if node.hostname == task["Node"])
    container = node.docker("ps", "--quiet", "--filter", f"label=com.docker.swarm.task.id={task['ID']}").stdout
    return node, container.strip()


@pytest.mark.usefixtures("deployed")
def test_should_lose_only_requests_in_flight_when_a_web_task_is_killed(swarm, release):
    # Given
    project = release["project"]
    before = _count(project, swarm.nodes[0])
    traffics = _under_load(project, swarm.nodes)

    # When
    node, container = _a_web_task_container(swarm)
    killing = time.monotonic()
    node.docker("kill", container)
    killed = time.monotonic()
    wait_until(lambda: _running_web_tasks_on(swarm, {"node1", "node2", "node3"}), 60, "3 running web tasks")
    _stop(traffics)

    # Then
    lost = _assert_lost_only_under_way(traffics, (killing, killed), swarm.nodes)
    _assert_counted_once(traffics, before, _count(project, swarm.nodes[0]), swarm.nodes, allowed_lost=lost)


@pytest.mark.parametrize("going", ["stop", "kill"], ids=["stopped-undrained", "killed"])
@pytest.mark.usefixtures("deployed")
def test_should_lose_only_requests_under_way_when_a_node_goes_down(swarm, release, going):
    # Given: a web task on every node, load through the first two nodes' proxies
    project = release["project"]
    _spread_web_tasks(swarm, release)
    survivors, victim = swarm.nodes[:2], swarm.nodes[2]
    before = _count(project, swarm.manager)
    traffics = _under_load(project, survivors)

    # When: the third node stopped with its tasks on it (its engine stops them, each draining, on the way down),
    # or killed outright
    going_down = time.monotonic()
    run(["docker", going, victim.name])
    gone = time.monotonic()
    try:
        wait_until(
            lambda: _running_web_tasks_on(swarm, {node.hostname for node in survivors}),
            90,
            f"the web tasks to leave {victim.hostname}",
        )
        TIMES[f"{going} node: tasks rescheduled"] = round(time.monotonic() - gone, 1)
        _stop(traffics)
    finally:
        _bring_back(swarm, victim)

    # Then: a request failed only if it was under way while the node went down
    lost = _assert_lost_only_under_way(traffics, (going_down, gone), survivors)
    _assert_counted_once(traffics, before, _count(project, swarm.manager), survivors, allowed_lost=lost)


def _assert_lost_only_under_way(traffics: list[Traffic], going: tuple[float, float], proxies) -> int:
    """A request failed only if it was under way while `docker kill` or `docker stop` ran (a kill takes some
    50 ms, in which the dying task accepts requests it never answers); none sent later failed. Returns how many
    were under way."""
    under_way = {(traffic, index) for traffic in traffics for index in traffic.under_way(*going)}
    failed = {
        (traffic, index) for traffic in traffics for index, status in enumerate(traffic.statuses) if status != 200
    }
    assert failed <= under_way, _proxy_log_of_failures(proxies)
    return len(under_way)


def _proxy_log_of_failures(nodes) -> str:
    """The lines of the nodes' HAProxy logs for requests not answered 200 (server, timers, termination state)."""
    lines = []
    for node in nodes:
        log = node.docker("logs", _containers_of(node, SERVICES[2])[0]).stdout
        lines += [f"{node.name}: {line}" for line in log.splitlines() if '"GET ' in line and " 200 " not in line]
    return "\n".join(lines)


@pytest.mark.usefixtures("deployed")
def test_should_serve_through_a_stall_of_every_web_task_without_a_failed_request(swarm, release):
    # Given: a web task on every node, load through every node's proxy
    project = release["project"]
    _spread_web_tasks(swarm, release)
    before = _count(project, swarm.manager)
    traffics = _under_load(project, swarm.nodes)
    frozen = [(node, container) for node in swarm.nodes for container in _containers_of(node, WEB)]

    # When: every web task gets no CPU for 2 s at once, as on a machine starved under load
    for node, container in frozen:
        node.docker("pause", container)
    time.sleep(2)
    for node, container in frozen:
        node.docker("unpause", container)
    _stop(traffics)

    # Then: the proxies waited for the slow tasks instead of taking them all out (503 for everything)
    _assert_counted_once(traffics, before, _count(project, swarm.manager), swarm.nodes)


@pytest.mark.usefixtures("deployed")
def test_should_keep_the_count_when_redis_restarts_on_its_node(swarm, release):
    # Given
    project = release["project"]
    before = _count(project, swarm.nodes[0])
    redis_node = swarm.manager  # deploy.sh labelled the manager for Redis
    container = _containers_of(redis_node, REDIS)[0]

    # When: Redis killed (no snapshot on the way out) once the last write is over two seconds old (what
    # appendfsync everysec, the default, may lose; this stack syncs every write)
    time.sleep(2.5)
    redis_node.docker("kill", container)
    first = wait_until(lambda: _count_or_none(project, swarm.nodes[0]), 60, "the count to be served again", 0.5)

    # Then: the append-only file kept every count
    assert first == before + 1
    assert _containers_of(redis_node, REDIS) != [container]


@pytest.mark.usefixtures("deployed")
def test_should_keep_redis_out_of_the_edges_reach(swarm):
    # Given: an edge proxy and a web task on the same node
    node = swarm.manager
    proxy, web = _containers_of(node, f"{STACK}_proxy-service")[0], _containers_of(node, WEB)[0]

    # When: each looks Redis up by its service name, as the app does
    def finds_redis(container: str) -> bool:
        return node.docker("exec", container, "getent", "hosts", "redis-service", check=False).returncode == 0

    # Then: the edge shares no network with Redis; the web task does
    assert (finds_redis(proxy), finds_redis(web)) == (False, True)


@pytest.mark.usefixtures("deployed")
def test_should_allow_the_apps_redis_login_only_the_apps_own_commands(swarm):
    # Given: a web task, which holds the app's Redis password
    node = swarm.manager
    web = _containers_of(node, WEB)[0]

    # When: the app's own client tries what an intruder there would, and what the tests read in Compose
    refused = node.docker("exec", web, *refused_to_the_app(STACK, *BEYOND_THE_APP, *THE_TESTS_READS)).stdout

    # Then: production's Redis refuses it all (the count, which the app runs, every other test here checks)
    assert refused.splitlines() == [*BEYOND_THE_APP, *THE_TESTS_READS]


# Prints how many gunicorn processes run in the container (the master and its workers), read from /proc.
GUNICORN_PROCESSES = (
    "import pathlib; print(sum(any(arg.endswith(b'/gunicorn') for arg in path.read_bytes().split(b'\\0')[:2])"
    " for path in pathlib.Path('/proc').glob('[0-9]*/cmdline')))"
)


@pytest.mark.usefixtures("deployed")
def test_should_run_a_worker_per_cpu_of_the_stacks_limit_not_of_the_node(swarm, release):
    # Given: the web service's CPU limit, on nodes that each see every CPU of this machine
    stack = yaml.safe_load((release["project"].path / "deploy" / "compose.stack.yml").read_text(encoding="utf-8"))
    cpus = math.ceil(float(stack["services"]["web-service"]["deploy"]["resources"]["limits"]["cpus"]))
    node = swarm.manager
    assert int(node.docker("info", "--format", "{{.NCPU}}").stdout) > cpus, "no node with more CPUs than the limit"

    # When
    processes = int(node.docker("exec", _containers_of(node, WEB)[0], "python", "-c", GUNICORN_PROCESSES).stdout)

    # Then: the master and a worker per CPU of the limit, whatever the node has (each worker costs memory)
    assert processes == 1 + cpus


# deploy/haproxy.cfg's `timeout http-request`: how long a client may take to send a request's headers.
HEADERS_TIMEOUT = 5
SLOW_CLIENTS = 200


@pytest.mark.usefixtures("deployed")
def test_should_serve_while_slow_clients_hold_half_sent_requests_and_close_them_when_late(swarm, release):
    # Given: SLOW_CLIENTS connections to one node's edge, each having sent half a request's headers, then nothing
    project = release["project"]
    node = swarm.nodes[1]
    before = _count(project, node)
    with slow_clients(project.url(node), SLOW_CLIENTS) as slow:
        # When: a health check and a page view through the same edge
        health = requests.get(project.url(node, "/health"), timeout=1)
        page = requests.get(project.url(node), timeout=1)
        # ... and the slow clients wait, long enough for their headers to be late, not for `timeout client` (30 s)
        answers = slow.answers_within(HEADERS_TIMEOUT + 5)

    # Then: both answered within a second; every slow client got a 408 and was closed, and none reached a web task
    assert health.status_code == 200 and SEEN.fullmatch(page.text), (health.status_code, page.text)
    assert Counter(answer.split(b"\r\n")[0] if answer else answer for answer in answers) == {
        b"HTTP/1.1 408 Request Time-out": SLOW_CLIENTS
    }
    assert _count(project, node) == before + 2


def test_should_fail_a_first_deploy_whose_web_tasks_never_get_healthy_within_its_timeout(swarm, release):
    # Given: no stack on the swarm (a first deploy), and v3, whose web tasks never pass their health check
    project = release["project"]
    if WEB in swarm.manager.docker("service", "ls", "--format", "{{.Name}}").stdout.split():
        swarm.remove_stack(STACK)

    # When: the subprocess's own timeout is the bound a deploy that never gives up would break
    try:
        result = project.deploy(release["v3"], check=False, timeout=150, DEPLOY_TIMEOUT=30)
    finally:
        swarm.remove_stack(STACK)

    # Then: the new web service named as not converged, never the stack as converged
    assert result.returncode != 0, result.stdout
    assert f"deploy: {WEB} failed: not converged within 30s" in result.stdout
    assert f"deploy: not deployed: {WEB}" in result.stderr
    assert f"stack {STACK} converged" not in result.stdout


def _containers_of(node, service: str) -> list[str]:
    """The IDs of a service's running containers on a node."""
    return node.docker("ps", "--quiet", "--filter", f"label=com.docker.swarm.service.name={service}").stdout.split()


def _count_or_none(project, node):
    """The count, or None while the service answers with an error."""
    match = SEEN.fullmatch(requests.get(project.url(node), timeout=5).text)
    return int(match.group(1)) if match else None
