"""Removes the files of options the user did not choose, then prints the next steps."""

import json
import shutil
from pathlib import Path

ANSWERS = {
    "project_slug": json.loads(r'''{{ cookiecutter.project_slug | tojson }}'''),
    "style_gate": json.loads(r'''{{ cookiecutter.style_gate | tojson }}'''),
    "ci": json.loads(r'''{{ cookiecutter.ci | tojson }}'''),
    "registry": json.loads(r'''{{ cookiecutter.registry | tojson }}'''),
}

# (question, answer) -> paths that only that answer leaves out.
UNSELECTED_FILES = {
    ("style_gate", "ruff"): ["web/.flake8"],
    ("ci", "none"): [".github/workflows", ".github/zizmor.yml"],
}

SECRETS = {
    "docker.io": "DOCKERHUB_USERNAME and DOCKERHUB_TOKEN",
    "ghcr.io": "none: GITHUB_TOKEN with packages: write",
}


def paths_to_remove(answers: dict) -> list[str]:
    return [
        path
        for (question, answer), paths in UNSELECTED_FILES.items()
        if answers[question] == answer
        for path in paths
    ]


def remove(project: Path, relative_path: str) -> None:
    target = project / relative_path
    if target.is_dir():
        shutil.rmtree(target)
    else:
        target.unlink(missing_ok=True)


def next_steps(answers: dict) -> str:
    steps = [
        f"cd {answers['project_slug']}",
        "docker compose up --build --detach --wait",
        "docker compose --profile testing run --build --rm test-service",
        'git init && git add . && git commit -m "Initial commit"',
    ]
    if answers["ci"] != "none":
        secrets = SECRETS.get(answers["registry"], "REGISTRY_USERNAME and REGISTRY_TOKEN")
        steps.append(f"create the repository secrets on GitHub ({secrets}) and push")
    return "Next steps:\n" + "\n".join(f"  {number}. {step}" for number, step in enumerate(steps, 1))


def main() -> None:
    project = Path.cwd()
    for relative_path in paths_to_remove(ANSWERS):
        remove(project, relative_path)
    print(next_steps(ANSWERS))


if __name__ == "__main__":
    main()
