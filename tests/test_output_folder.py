"""No answer makes cookiecutter create or delete anything outside the output folder.

Cookiecutter creates the project folder before the pre-gen hook runs and deletes it when the hook fails;
the folder's name therefore never comes from an unchecked answer, and every answer, choices and derived
values included, is checked before a project file is written. Run as users run it: the cookiecutter
command, from a folder holding the user's own files."""

import json

import pytest

from testkit.harness import REPO_ROOT, require_command, run

HOSTILE_SLUGS = {
    "parent": "..",
    "sibling": "../x",
    "current": ".",
    "absolute": "{parent}/elsewhere",
    "home": "~",
    "empty": "",
}


def _tree(folder) -> dict:
    """Every path below a folder with the content of its files, to compare before and after."""
    return {
        str(path.relative_to(folder)): path.read_bytes() if path.is_file() else None
        for path in sorted(folder.rglob("*"))
    }


@pytest.fixture
def user_folders(tmp_path):
    """(home, parent, work): the command runs in work, which holds the user's files, as does its parent."""
    home, parent = tmp_path / "home", tmp_path / "parent"
    work = parent / "work"
    for folder in (home, work):
        folder.mkdir(parents=True)
    (work / "sentinel.txt").write_text("the user's own file\n", encoding="utf-8")
    (parent / "sentinel.txt").write_text("another of the user's files\n", encoding="utf-8")
    (home / ".cookiecutterrc").write_text(
        f"replay_dir: {tmp_path / 'replay'}\ncookiecutters_dir: {tmp_path / 'cookiecutters'}\n", encoding="utf-8"
    )
    return home, parent, work


def _cookiecutter(folders, *args):
    home, _, work = folders
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "COOKIECUTTER_CONFIG": str(home / ".cookiecutterrc")}
    return run([require_command("cookiecutter"), *args], cwd=work, env=env, check=False)


def _assert_refused_and_untouched(result, folders, before, question, output_folder=None):
    home, parent, _ = folders
    assert result.returncode != 0
    assert f"ERROR: {question}: " in result.stderr, result.stderr
    assert _tree(home) == before["home"]
    after = _tree(parent)
    if output_folder:
        # The -o folder itself is made by cookiecutter before any hook runs; it must stay empty.
        assert after.pop(f"work/{output_folder}") is None
    assert after == before["parent"], "a file or folder outside the output folder was created or deleted"


@pytest.mark.parametrize("output_folder", [None, "newdir"], ids=["no-output-dir", "output-dir"])
@pytest.mark.parametrize("slug", HOSTILE_SLUGS.values(), ids=HOSTILE_SLUGS.keys())
def test_should_refuse_a_path_like_slug_and_touch_nothing_outside(user_folders, slug, output_folder):
    # Given
    home, parent, _ = user_folders
    slug = slug.format(parent=parent)
    before = {"home": _tree(home), "parent": _tree(parent)}
    output = ["--output-dir", output_folder] if output_folder else []

    # When
    result = _cookiecutter(user_folders, "--no-input", *output, REPO_ROOT, f"project_slug={slug}")

    # Then
    _assert_refused_and_untouched(result, user_folders, before, "project_slug", output_folder)
    assert not (parent / "elsewhere").exists()


@pytest.mark.parametrize(
    ("question", "value"),
    [
        pytest.param("python_version", "3.13\nRUN touch /tmp/owned", id="newline-in-choice"),
        pytest.param("redis_appendfsync", "everysec\nREDIS_PASSWORD=known", id="second-dotenv-line"),
        pytest.param("ci", "none\n", id="trailing-newline"),
        pytest.param("__package_name", "../../x", id="derived-value-given"),
        # Private values: a pin of another commit, a runner of an attacker's.
        pytest.param(
            "_github_actions", {"actions/checkout": {"commit": "0" * 40, "version": "v7.0.1"}}, id="private-pins"
        ),
        pytest.param(
            "_github_runners",
            {"linux/amd64": "ubuntu-latest", "linux/arm64": "attacker-self-hosted"},
            id="private-runners",
        ),
    ],
)
def test_should_refuse_a_replayed_answer_outside_the_template_and_touch_nothing(user_folders, question, value):
    # Given: the replay file cookiecutter wrote for a default project, one answer changed (replayed
    # answers skip cookiecutter's own choice checks)
    home, parent, work = user_folders
    first = _cookiecutter(user_folders, "--no-input", "--output-dir", home.parent / "first", REPO_ROOT)
    assert first.returncode == 0, first.stderr
    replay = next((home.parent / "replay").glob("*.json"))
    context = json.loads(replay.read_text(encoding="utf-8"))
    context["cookiecutter"][question] = value
    replay.write_text(json.dumps(context), encoding="utf-8")
    before = {"home": _tree(home), "parent": _tree(parent)}

    # When
    result = _cookiecutter(user_folders, "--replay-file", replay, REPO_ROOT)

    # Then
    _assert_refused_and_untouched(result, user_folders, before, question)
    assert not (work / "page-tracker").exists()
