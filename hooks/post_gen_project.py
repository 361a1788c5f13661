"""Removes the files of options the user did not choose, writes .env and a fresh Redis password, locks the
dependencies with uv when it can, then prints the next steps."""

import json
import os
import re
import secrets
import shutil
import subprocess
from pathlib import Path

ANSWERS = {
    "project_slug": json.loads(r'''{{ cookiecutter.project_slug | tojson }}'''),
    "default_branch": json.loads(r'''{{ cookiecutter.default_branch | tojson }}'''),
    "tracker_ci_action": json.loads(r'''{{ cookiecutter.tracker_ci_action | tojson }}'''),
    "style_gate": json.loads(r'''{{ cookiecutter.style_gate | tojson }}'''),
    "ci": json.loads(r'''{{ cookiecutter.ci | tojson }}'''),
    "deploy": json.loads(r'''{{ cookiecutter.deploy | tojson }}'''),
    "registry_secrets": json.loads(r'''{{ cookiecutter.__registry_secrets | tojson }}'''),
    "redis_appendfsync": json.loads(r'''{{ cookiecutter.redis_appendfsync | tojson }}'''),
}

# (question, answer) -> paths that only that answer leaves out.
UNSELECTED_FILES = {
    ("style_gate", "ruff"): ["web/.flake8"],
    ("ci", "none"): [".github/workflows", ".github/zizmor.yml"],
    # Only the action's own tag needs a zizmor policy: the inline workflow pins every action by commit.
    ("ci", "inline"): [".github/zizmor.yml"],
    ("deploy", "none"): ["deploy"],
}

COMMIT_PIN = re.compile(r"@[0-9a-f]{40}")


def paths_to_remove(answers: dict) -> list[str]:
    return [
        path for (question, answer), paths in UNSELECTED_FILES.items() if answers[question] == answer for path in paths
    ]


def remove(project: Path, relative_path: str) -> None:
    target = project / relative_path
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)


# Compose bind-mounts this file as the secret /run/secrets/redis-password; .gitignore keeps it out of git.
PASSWORD_FILE = "secrets/redis-password"


def dotenv(answers: dict) -> str:
    return f"REDIS_APPENDFSYNC={answers['redis_appendfsync']}\n"


def write_dotenv(project: Path, answers: dict) -> None:
    """The settings, readable by their owner only; an existing .env is kept."""
    _write_new(project / ".env", dotenv(answers), 0o600)


def write_password(project: Path) -> None:
    """A password of this project's own; an existing one is kept. Its folder only the owner may enter, the
    file itself anyone may read: a bind mount keeps the host mode, and the containers' users are not the
    owner."""
    path = project / PASSWORD_FILE
    path.parent.mkdir(mode=0o700, exist_ok=True)
    _write_new(path, secrets.token_urlsafe(32), 0o644)


def _write_new(path: Path, text: str, mode: int) -> None:
    if path.exists():
        return
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    os.fchmod(descriptor, mode)  # the umask must not narrow it
    with os.fdopen(descriptor, "w", encoding="utf-8") as file:
        file.write(text)


# The command that locks the project's dependencies into web/uv.lock, which the Docker build requires.
LOCK_COMMAND = ["uv", "lock", "--directory", "web"]


def lock_dependencies(project: Path, uv: str | None) -> str | None:
    """Runs `uv lock` in the project's web folder, as cookiecutter-django's hook runs uv for its users: the newest
    releases that pyproject.toml allows today. Returns why it could not lock, or None when it locked."""
    if uv is None:
        return "uv is not on the PATH"
    result = subprocess.run([uv, *LOCK_COMMAND[1:]], cwd=project, capture_output=True, text=True, check=False)
    if result.returncode != 0:
        return " ".join(result.stderr.split()[-60:]) or f"uv lock exited {result.returncode}"
    return None


def next_steps(answers: dict, lock_problem: str | None) -> str:
    steps = [f"cd {answers['project_slug']}"]
    if lock_problem:
        steps.append(f"{' '.join(LOCK_COMMAND)}  (not done at generation: {lock_problem}; commit web/uv.lock)")
    steps += [
        "docker compose up --build --detach --wait",
        "docker compose --profile testing run --build --rm test-service",
        'git init && git add . && git commit -m "Initial commit"',
    ]
    if answers["ci"] != "none":
        secret_names = answers["registry_secrets"]  # cookiecutter.json derives them from the registry
        credentials = f"the secrets {secret_names}" if secret_names else "no secrets: GITHUB_TOKEN pushes"
        releases = " and release tags v*, a tag ruleset that lets only maintainers create v* tags" if answers["ci"] == "action" else " only"
        steps.append(
            f"on GitHub, create the environment 'registry' with {credentials}, deployments from"
            f" {answers['default_branch']}{releases} (see README.md), and push"
        )
    if answers["ci"] == "action" and not COMMIT_PIN.search(answers["tracker_ci_action"]):
        steps.append(f"pin {answers['tracker_ci_action']} to its release commit in ci.yml (see README.md)")
    if answers["deploy"] == "swarm" and answers["ci"] == "action":
        steps.append(
            "to deploy from CI, create the environment 'production' with the secrets DEPLOY_SSH_TARGET,"
            " DEPLOY_SSH_KEY, DEPLOY_SSH_KNOWN_HOSTS and REDIS_PASSWORD (see README.md)"
        )
    elif answers["deploy"] == "swarm":
        steps.append("deploy the pushed image to Docker Swarm: deploy/deploy.sh <image>@sha256:<digest> (see README.md)")
    steps.append("take template updates later with cruft: cruft check, cruft update (see README.md)")
    return "Next steps:\n" + "\n".join(f"  {number}. {step}" for number, step in enumerate(steps, 1))


def main() -> None:
    project = Path.cwd()
    for relative_path in paths_to_remove(ANSWERS):
        remove(project, relative_path)
    write_dotenv(project, ANSWERS)
    write_password(project)
    lock_problem = lock_dependencies(project, shutil.which("uv"))
    if lock_problem is None:
        print("Locked the dependencies into web/uv.lock (uv lock): the newest releases pyproject.toml allows today.")
    print(next_steps(ANSWERS, lock_problem))


if __name__ == "__main__":
    main()
