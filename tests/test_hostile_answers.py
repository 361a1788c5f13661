"""Hostile answers to every free-text question: each is refused by the pre-gen hook, naming the question and
leaving no folder, or rendered so that every generated file still parses and the project's tests pass. Nothing
an answer says is ever executed."""

import pytest

from testkit.projects import assert_files_parse, run_unit_tests
from testkit.template import QUESTIONS

HOSTILE = {
    "single-quotes": "O'Brien's tracker",
    "double-quotes": 'The "best" tracker',
    "backticks": "run `touch MARKER` now",
    "command-substitution": "$(touch MARKER)",
    "newline": "two\nlines",
    "jinja-expression": "{{ 7*7 }}",
    "jinja-statement": "{% if true %}x{% endif %}",
    "yaml-colon-hash": "key: value # comment",
    "yaml-dash": "- item",
    "path-traversal": "../../etc/passwd",
    "leading-dash": "-rf",
    "unicode": "Zähler 😔 計數器",
    "empty": "",
    "long": "x" * 300,
}
# Cookiecutter creates the project folder, named by the slug, before any hook runs: a slug too long to name
# a folder is refused by cookiecutter itself, which then writes nothing either.
REFUSED_BEFORE_HOOKS = {("project_slug", "x" * 300): "too long"}
FREE_TEXT = [name for name, value in QUESTIONS.items() if isinstance(value, str)]

pytestmark = pytest.mark.venv


@pytest.mark.parametrize("installed_project", ["ruff"], indirect=True)
@pytest.mark.parametrize("value", HOSTILE.values(), ids=HOSTILE.keys())
@pytest.mark.parametrize("question", FREE_TEXT)
def test_should_refuse_or_safely_render_a_hostile_answer(
    cookies, capfd, tmp_path, monkeypatch, installed_project, question, value
):
    # Given
    monkeypatch.chdir(tmp_path)

    # When
    result = cookies.bake(extra_context={question: value})

    # Then
    if (question, value) in REFUSED_BEFORE_HOOKS:
        assert result.exit_code != 0
        assert REFUSED_BEFORE_HOOKS[question, value] in str(result.exception)
        assert list((tmp_path / "cookies").glob("*/*")) == []
    elif result.exit_code == 0:
        _assert_still_valid(result.project_path, installed_project[1])
    else:
        errors = capfd.readouterr().err
        named = question if question != "project_name" else "project_"  # the slug derives from the name
        assert f"ERROR: {named}" in errors, errors
        assert list((tmp_path / "cookies").glob("*/*")) == [], "a refused answer left a folder behind"
    assert not list(tmp_path.rglob("MARKER")), "an answer was executed"


def _assert_still_valid(project, python):
    assert_files_parse(project)
    run_unit_tests(project, python)
