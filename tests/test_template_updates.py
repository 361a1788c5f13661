"""Template updates with cruft, as a user takes them: a project created from one commit of the template, a
change of the user's own, a newer commit of the template, `cruft update`."""

import json
import shutil

import pytest

from testkit.harness import REPO_ROOT, git_commit, require_command, run
from testkit.projects import app_source, bake, run_unit_tests, text_files
from testkit.template import TEMPLATE_DIR, TEMPLATE_PARTS

USER_ROUTE = '\n\n@app.get("/ping")\ndef ping():\n    return "pong"\n'
TEMPLATE_COMMENT = "# Template v2: a comment the newer template adds to the Dockerfile.\n"
TEMPLATE_NOTE = "\nA note the newer template adds to the README.\n"


def _template_repository(folder):
    """The template as a git repository of its own, at a first commit."""
    folder.mkdir()
    for name in TEMPLATE_PARTS:
        source = REPO_ROOT / name
        (shutil.copytree if source.is_dir() else shutil.copy)(source, folder / name)
    git_commit(folder, "Template v1")
    return folder


def _cruft_project(template, work):
    """A project made from the template with `cruft create`, committed in its own git repository."""
    work.mkdir()
    run([require_command("cruft"), "create", "--no-input", template], cwd=work)
    project = work / "page-tracker"
    git_commit(project, "Create from the template")
    return project


def _change_template(template):
    dockerfile = template / TEMPLATE_DIR / "web" / "Dockerfile"
    dockerfile.write_text(TEMPLATE_COMMENT + dockerfile.read_text(encoding="utf-8"), encoding="utf-8")
    readme = template / TEMPLATE_DIR / "README.md"
    readme.write_text(readme.read_text(encoding="utf-8") + TEMPLATE_NOTE, encoding="utf-8")
    git_commit(template, "Template v2")


def test_should_render_the_same_files_twice_but_the_skipped_password(cookies):
    # When: two renders of the same answers
    first, second = bake(cookies), bake(cookies)

    # Then: only the password, the one random file, differs, and cruft is told to skip it
    differing = [
        path.relative_to(first)
        for path in text_files(first)
        if path.read_bytes() != (second / path.relative_to(first)).read_bytes()
    ]
    assert [str(path) for path in differing] == ["secrets/redis-password"]
    assert 'skip = [".env", "secrets"]' in (first / "pyproject.toml").read_text(encoding="utf-8")


@pytest.mark.venv
@pytest.mark.parametrize("installed_project", ["ruff"], indirect=True)
def test_should_apply_a_template_change_and_keep_the_users_own_with_cruft_update(tmp_path, installed_project):
    # Given: a project created with cruft from the template at a first commit, then changed by its user
    cruft = require_command("cruft")
    template = _template_repository(tmp_path / "template")
    project = _cruft_project(template, tmp_path / "work")
    password = (project / "secrets" / "redis-password").read_text(encoding="utf-8")
    app = app_source(project)
    app.write_text(app.read_text(encoding="utf-8") + USER_ROUTE, encoding="utf-8")
    git_commit(project, "Add /ping")

    # Given: a newer template commit that changes the Dockerfile and the README
    _change_template(template)
    assert run([cruft, "check"], cwd=project, check=False).returncode != 0, "cruft should see the newer template"

    # When
    run([cruft, "update", "--skip-apply-ask"], cwd=project)

    # Then: the template's change applied, the user's kept, nothing rejected, the password untouched
    assert list(project.rglob("*.rej")) == []
    assert (project / "web" / "Dockerfile").read_text(encoding="utf-8").startswith(TEMPLATE_COMMENT)
    assert (project / "README.md").read_text(encoding="utf-8").endswith(TEMPLATE_NOTE)
    assert app.read_text(encoding="utf-8").endswith(USER_ROUTE)
    assert (project / "secrets" / "redis-password").read_text(encoding="utf-8") == password
    run([cruft, "check"], cwd=project)

    # Then: the project's own unit tests pass
    run_unit_tests(project, installed_project[1])


def test_should_refuse_a_choice_outside_the_template_from_the_cruft_state(tmp_path):
    # Given: .cruft.json, a file of the project anyone can edit, answering a choice question with an injection
    template = _template_repository(tmp_path / "template")
    project = _cruft_project(template, tmp_path / "work")
    state = json.loads((project / ".cruft.json").read_text(encoding="utf-8"))
    state["context"]["cookiecutter"]["python_version"] = "3.13\nRUN touch /tmp/owned"
    (project / ".cruft.json").write_text(json.dumps(state), encoding="utf-8")
    git_commit(project, "Change the cruft state")
    _change_template(template)
    dockerfile = (project / "web" / "Dockerfile").read_text(encoding="utf-8")

    # When
    result = run([require_command("cruft"), "update", "--skip-apply-ask"], cwd=project, check=False)

    # Then: cookiecutter, which builds cruft's context, refuses it; the project is as it was
    assert result.returncode != 0
    assert "provided for choice variable python_version" in result.stdout + result.stderr
    assert (project / "web" / "Dockerfile").read_text(encoding="utf-8") == dockerfile
