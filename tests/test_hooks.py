"""The hooks as units: rendered with a context the way cookiecutter renders them, then imported."""

import importlib.util
import os
from contextlib import contextmanager
from pathlib import Path

import pytest
from cookiecutter.environment import StrictEnvironment

from testkit.harness import REPO_ROOT, require_command, run
from testkit.template import COOKIECUTTER_JSON
from testkit.template import DEFAULT_ANSWERS as TEMPLATE_DEFAULTS
from testkit.template import context as template_context
from testkit.template import derived as derived_value

DEFAULT_ANSWERS = TEMPLATE_DEFAULTS | {"project_slug": "page-tracker"}


def render_hook(tmp_path, hook: str, **answers):
    context = template_context(**(DEFAULT_ANSWERS | answers))
    source = (REPO_ROOT / "hooks" / f"{hook}.py").read_text(encoding="utf-8")
    rendered = StrictEnvironment(context={"cookiecutter": context}).from_string(source).render(cookiecutter=context)
    path = tmp_path / f"{hook}.py"
    path.write_text(rendered, encoding="utf-8")
    spec = importlib.util.spec_from_file_location(hook, path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize(
    "hostile",
    [
        pytest.param("'''); open('MARKER', 'w'); ('", id="single-quotes"),
        pytest.param('"""); open("MARKER", "w"); ("', id="double-quotes"),
        pytest.param("\\'''); open('MARKER', 'w') #", id="backslash-quote"),
        pytest.param("$(touch MARKER) `touch MARKER`", id="shell"),
    ],
)
def test_should_read_a_hostile_answer_as_plain_data(tmp_path, monkeypatch, hostile):
    # Given
    monkeypatch.chdir(tmp_path)

    # When
    hook = render_hook(tmp_path, "pre_gen_project", author=hostile)

    # Then
    assert hook.ANSWERS["author"] == hostile
    assert not (tmp_path / "MARKER").exists()


@pytest.mark.parametrize(
    "character",
    [
        pytest.param("\n", id="Cc-newline"),
        pytest.param("\u202e", id="Cf-right-to-left-override"),
        pytest.param("\u200b", id="Cf-zero-width-space"),
        pytest.param("\u2066", id="Cf-left-to-right-isolate"),
        pytest.param("\ue000", id="Co-private-use"),
        pytest.param("\u0378", id="Cn-unassigned"),
    ],
)
def test_should_refuse_a_character_that_is_not_what_it_shows(tmp_path, character):
    # Given
    hook = render_hook(tmp_path, "pre_gen_project")

    # When
    problem = hook.printable_problem(f"Page{character}Tracker")

    # Then
    assert problem is not None and "control characters" in problem


def test_should_accept_letters_of_any_script(tmp_path):
    assert render_hook(tmp_path, "pre_gen_project").printable_problem("Zähler Ünïcode 計数器 Счётчик") is None


def test_should_find_no_problem_in_the_defaults(tmp_path):
    # Given
    hook = render_hook(tmp_path, "pre_gen_project")

    # When
    problems = hook.problems(hook.ANSWERS)

    # Then
    assert problems == []


def test_should_name_every_wrong_answer_at_once(tmp_path):
    # Given
    hook = render_hook(tmp_path, "pre_gen_project", web_port="0", default_branch="a..b")

    # When
    problems = hook.problems(hook.ANSWERS)

    # Then
    assert [problem.split(":")[0] for problem in problems] == ["web_port", "default_branch"]


def test_should_refuse_an_answer_outside_the_templates_own_choices(tmp_path):
    # Given
    hook = render_hook(tmp_path, "pre_gen_project")
    template = hook.template_questions(REPO_ROOT)

    # When
    problems = hook.choice_problems(DEFAULT_ANSWERS | {"python_version": "3.13\nRUN x", "ci": "inline"}, template)

    # Then
    assert problems == ["python_version: '3.13\\nRUN x' must be one of 3.14, 3.15, 3.13, 3.12, 3.11"]


def test_should_refuse_a_derived_value_given_by_hand(tmp_path):
    # Given: the values the template derives from the default answers
    hook = render_hook(tmp_path, "pre_gen_project")
    template = hook.template_questions(REPO_ROOT)
    derived = {
        name: derived_value(name, project_slug="page-tracker")
        for name, expression in COOKIECUTTER_JSON.items()
        if name.startswith("__") and isinstance(expression, str)
    }
    assert derived["__package_name"] == "page_tracker"

    # When
    as_derived = hook.derived_problems(DEFAULT_ANSWERS | derived, template)
    given = hook.derived_problems(DEFAULT_ANSWERS | derived | {"__package_name": "../x"}, template)

    # Then
    assert as_derived == []
    assert given == ["__package_name: '../x' is derived from the other answers and cannot be given"]


def test_should_refuse_a_private_value_given_by_hand(tmp_path):
    # Given: the template's own private values, and a pin and a runner label of an attacker's
    hook = render_hook(tmp_path, "pre_gen_project")
    template = hook.template_questions(REPO_ROOT)
    runners = COOKIECUTTER_JSON["_github_runners"] | {"linux/arm64": "attacker-self-hosted"}
    checkout = {"actions/checkout": {"commit": "0" * 40, "version": "v9.9.9"}}

    # When
    as_template = hook.private_problems(DEFAULT_ANSWERS | COOKIECUTTER_JSON, template)
    given = hook.private_problems(
        DEFAULT_ANSWERS | COOKIECUTTER_JSON | {"_github_runners": runners, "_github_actions": checkout}, template
    )

    # Then: each named, its value never echoed
    assert as_template == []
    assert given == [
        "_github_actions: is the template's own value and cannot be given",
        "_github_runners: is the template's own value and cannot be given",
    ]


@pytest.mark.parametrize(
    ("registry", "namespace", "valid"),
    [
        ("docker.io", "realpython", True),
        ("docker.io", "real-python", False),
        ("ghcr.io", "octo-org/apps", True),
        ("ghcr.io", "Octo-Org", False),
        ("registry.example.com:5000", "team/apps.web", True),
        ("localhost:5000", "team//apps", False),
    ],
)
def test_should_apply_each_registrys_naming_rules(tmp_path, registry, namespace, valid):
    # Given
    hook = render_hook(tmp_path, "pre_gen_project")

    # When
    problem = hook.namespace_problem(namespace, registry)

    # Then
    assert (problem is None) is valid, problem


@pytest.mark.parametrize(
    ("answers", "removed"),
    [
        ({}, ["web/.flake8", "deploy"]),
        ({"style_gate": "black-isort-flake8"}, ["deploy"]),
        ({"ci": "none"}, ["web/.flake8", ".github/workflows", ".github/zizmor.yml", "deploy"]),
        ({"ci": "inline"}, ["web/.flake8", ".github/zizmor.yml", "deploy"]),
        ({"deploy": "swarm"}, ["web/.flake8"]),
    ],
)
def test_should_remove_only_the_files_of_unselected_options(tmp_path, answers, removed):
    # Given
    hook = render_hook(tmp_path, "post_gen_project", **answers)

    # When
    paths = hook.paths_to_remove(hook.ANSWERS)

    # Then
    assert sorted(paths) == sorted(removed)


def test_should_print_the_secrets_to_create_in_next_steps(tmp_path):
    # Given
    hook = render_hook(tmp_path, "post_gen_project", registry="registry.example.com")

    # When
    steps = hook.next_steps(hook.ANSWERS, lock_problem=None)

    # Then
    assert steps.startswith("Next steps:\n  1. cd page-tracker\n  2. docker compose up")
    assert "environment 'registry' with the secrets REGISTRY_USERNAME and REGISTRY_TOKEN" in steps
    assert "deployments from main and release tags v*, a tag ruleset that lets only maintainers create v* tags" in steps
    assert f"pin {DEFAULT_ANSWERS['tracker_ci_action']} to its release commit" in steps
    assert "cruft update" in steps


def test_should_ask_for_no_tag_ruleset_where_no_release_tag_publishes(tmp_path):
    # Given: the inline workflow, which publishes from main alone
    hook = render_hook(tmp_path, "post_gen_project", ci="inline")

    # When
    steps = hook.next_steps(hook.ANSWERS, lock_problem=None)

    # Then
    assert "deployments from main only (see README.md)" in steps and "v*" not in steps


# What each step a user follows needs done before it: the lock before the build that installs it, the build and the
# tests before the first commit (which must hold the lock), the commit before the push, the environment before the
# push that uses it.
STEP_ORDER = ["cd ", "uv lock", "docker compose up", "--profile testing run", "git commit", "environment 'registry'"]


@pytest.mark.parametrize("lock_problem", [None, "uv is not on the PATH"], ids=["locked", "not-locked"])
def test_should_number_the_next_steps_in_the_order_a_user_can_follow_them(tmp_path, lock_problem):
    # Given
    hook = render_hook(tmp_path, "post_gen_project", deploy="swarm")

    # When: the numbered lines, as a user reads them, and where each step is
    lines = hook.next_steps(hook.ANSWERS, lock_problem=lock_problem).splitlines()[1:]
    numbers = [int(line.split(".", 1)[0]) for line in lines]
    position = {part: next((n for n, line in enumerate(lines) if part in line), None) for part in STEP_ORDER}

    # Then: numbered 1, 2, 3, ...; the lock step only when it is left to do; each step after what it needs
    assert numbers == list(range(1, len(lines) + 1))
    assert (position["uv lock"] is None) is (lock_problem is None)
    followed = [position[part] for part in STEP_ORDER if position[part] is not None or part != "uv lock"]
    assert None not in followed and followed == sorted(followed), position


def test_should_not_ask_to_pin_an_action_pinned_by_commit(tmp_path):
    # Given
    hook = render_hook(tmp_path, "post_gen_project", tracker_ci_action=f"org/tracker-ci@{'ab' * 20}")

    # When
    steps = hook.next_steps(hook.ANSWERS, lock_problem=None)

    # Then
    assert "pin " not in steps


# A strict umask, an ordinary user's, and none: the modes the hook sets must not depend on it.
UMASKS = [pytest.param(0o077, id="umask-077"), pytest.param(0o022, id="umask-022"), pytest.param(0o000, id="umask-000")]


@contextmanager
def umask(mask: int):
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


@pytest.mark.parametrize("mask", UMASKS)
def test_should_write_the_settings_to_a_private_dotenv_once(tmp_path, mask):
    # Given
    hook = render_hook(tmp_path, "post_gen_project", redis_appendfsync="always")
    new, existing = tmp_path / "new", tmp_path / "existing"
    new.mkdir()
    existing.mkdir()
    (existing / ".env").write_text("WEB_PORT=8080\n", encoding="utf-8")

    # When
    with umask(mask):
        hook.write_dotenv(new, hook.ANSWERS)
        hook.write_dotenv(existing, hook.ANSWERS)

    # Then
    assert (new / ".env").read_text(encoding="utf-8") == "REDIS_APPENDFSYNC=always\n"
    assert (new / ".env").stat().st_mode & 0o777 == 0o600
    assert (existing / ".env").read_text(encoding="utf-8") == "WEB_PORT=8080\n", "an existing .env must be kept"


@pytest.mark.parametrize("mask", UMASKS)
def test_should_write_a_fresh_password_once_in_a_folder_only_its_owner_enters(tmp_path, mask):
    # Given: a strict umask must not make the password unreadable to the containers' users, nor an ordinary
    # one the folder open to others
    hook = render_hook(tmp_path, "post_gen_project")
    first, other = tmp_path / "first", tmp_path / "other"
    first.mkdir()
    other.mkdir()

    # When
    with umask(mask):
        hook.write_password(first)
        password = (first / hook.PASSWORD_FILE).read_text(encoding="utf-8")
        hook.write_password(first)
        hook.write_password(other)

    # Then
    path = first / hook.PASSWORD_FILE
    assert len(password) >= 32
    assert path.stat().st_mode & 0o777 == 0o644
    assert path.parent.stat().st_mode & 0o777 == 0o700
    assert path.read_text(encoding="utf-8") == password, "an existing password must be kept"
    assert (other / hook.PASSWORD_FILE).read_text(encoding="utf-8") != password, "each project gets its own"


def test_should_lock_at_generation_when_uv_is_on_the_path(cookies, capfd):
    # Given: uv on the PATH (tests/conftest.py), as for a user of `uvx cookiecutter`

    # When
    result = cookies.bake()

    # Then: a lock that uv accepts as is, and no lock step left to do
    output = capfd.readouterr().out
    assert result.exit_code == 0, result.exception
    web = Path(result.project_path) / "web"
    run([require_command("uv"), "lock", "--locked", "--directory", web])
    assert "Locked the dependencies into web/uv.lock" in output
    assert "uv lock" not in output.split("Next steps:")[1]


@pytest.mark.parametrize(
    ("env", "cause"),
    [
        pytest.param({"PATH": "/usr/bin:/bin"}, "uv is not on the PATH", id="without-uv"),
        # An index that refuses every connection, as offline or behind a broken mirror; no retries to wait for.
        pytest.param({"UV_DEFAULT_INDEX": "http://127.0.0.1:9/simple", "UV_HTTP_RETRIES": "0", "UV_NO_CACHE": "1"},
                     "Connection refused", id="unreachable-index"),
    ],
)  # fmt: skip
def test_should_write_the_project_and_say_how_to_lock_when_it_cannot(cookies, capfd, monkeypatch, env, cause):
    # Given
    for name, value in env.items():
        monkeypatch.setenv(name, value)

    # When
    result = cookies.bake()

    # Then: the whole project, no lock, and the step that makes it with the reason it is left to do
    output = capfd.readouterr().out
    assert result.exit_code == 0, result.exception
    project = Path(result.project_path)
    assert (project / "web" / "pyproject.toml").is_file() and (project / "docker-compose.yml").is_file()
    assert not (project / "web" / "uv.lock").exists()
    step = next(line for line in output.splitlines() if "uv lock --directory web" in line)
    assert "not done at generation: " in step and cause in step, output
