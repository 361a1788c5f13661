"""Helpers for baked projects: baking, reading their files, and running their own commands."""

import ast
import os
import secrets
import sys
import tomllib
from pathlib import Path

import yaml

from testkit.harness import REPO_ROOT, require_command, run

TEXT_SUFFIXES = {".py", ".toml", ".txt", ".yml", ".yaml", ".md", ".cfg", ""}


def bake(cookies, **extra_context) -> Path:
    """Bakes the template with the given answers, uv on the PATH (tests/conftest.py), so that the post-generation
    hook locks the dependencies as it does for a user of `uvx cookiecutter`; fails the test if cookiecutter or a
    hook failed, or the hook left no lock."""
    result = cookies.bake(extra_context=extra_context)
    assert result.exit_code == 0, f"bake failed: {result.exception}"
    project = Path(result.project_path)
    assert (project / "web" / "uv.lock").is_file(), f"the post-generation hook did not lock {project}"
    return project


def lock_dependencies(project: Path) -> None:
    """`uv lock` in the project's web folder, as its README says after a change of pyproject.toml, with the uv
    version its Dockerfile uses."""
    run([require_command("uv"), "lock", "--quiet", "--directory", project / "web"])


def text_files(project: Path) -> list[Path]:
    return [
        path
        for path in sorted(project.rglob("*"))
        if path.is_file() and (path.suffix in TEXT_SUFFIXES or path.name.startswith("Dockerfile"))
    ]


def assert_files_parse(project: Path) -> None:
    """Every generated YAML, TOML and Python file parses, Compose reads the project, hadolint passes its
    Dockerfile: what any accepted answer, however odd, must leave true."""
    for path in text_files(project):
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".yml", ".yaml"):
            assert yaml.safe_load(text) is not None, path
        elif path.suffix == ".toml":
            tomllib.loads(text)
        elif path.suffix == ".py":
            ast.parse(text, filename=str(path))
    run(["docker", "compose", "--project-directory", project, "config", "--quiet"])
    run([require_command("hadolint"), "--config", REPO_ROOT / ".hadolint.yaml", project / "web" / "Dockerfile"])


def run_unit_tests(project: Path, python: Path) -> None:
    """Runs a project's own unit tests with a venv of another project of the same template, the project's
    own sources first on the path, so a changed project needs no install of its own."""
    env = {**os.environ, "PYTHONPATH": str(project / "web" / "src")}
    run([python, "-m", "pytest", "-q", "-p", "no:cacheprovider", "test/unit/"], cwd=project / "web", env=env)


def app_source(project: Path) -> Path:
    """The generated app.py; its folder's name is the project's import package."""
    return next((project / "web" / "src").glob("*/app.py"))


def change_code_only(project: Path, note: str) -> None:
    """A one-line change of app.py that every style gate accepts: a comment line above everything else."""
    app = app_source(project)
    app.write_text(f"# {note}\n" + app.read_text(encoding="utf-8"), encoding="utf-8")


def make_venv(project: Path, venv: Path) -> Path:
    """A venv with the project installed as its README says (`uv sync`: the lock, editable, the dev group), at
    `venv` instead of web/.venv; returns its python."""
    env = {**os.environ, "UV_PROJECT_ENVIRONMENT": str(venv)}
    run(
        [require_command("uv"), "sync", "--quiet", "--locked", "--python", sys.executable], cwd=project / "web", env=env
    )
    return venv / "bin" / "python"


def deploy_signature_check(project: Path) -> str:
    """The command of the deploy job's signature check, as a project baked with deploy: swarm writes it."""
    workflow = yaml.safe_load((project / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))
    return next(
        step["run"] for step in workflow["jobs"]["deploy"]["steps"] if step["name"] == "Verify the image's signature"
    )


def unique_name(prefix: str) -> str:
    return f"{prefix}-{secrets.token_hex(4)}"
