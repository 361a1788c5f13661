"""Checks every answer before the project is written. On a bad one it names the question and the
reason, exits 1, and cookiecutter removes the folder it made for the project (whose name, see the
template folder's, can never point outside the output folder). No network, no Docker."""

import json
import keyword
import os
import re
import sys
import unicodedata
from pathlib import Path

from cookiecutter.environment import StrictEnvironment

# Everything cookiecutter rendered this hook with, read as one JSON string literal, so no answer can break
# out of this file. Answers from a replay file or the command line skip cookiecutter's own choice checks,
# and can even set derived values: all of it is checked against the template's cookiecutter.json, which
# _repo_dir names (cookiecutter sets it after reading any replay).
CONTEXT = json.loads(r'''{{ cookiecutter | tojson }}''')
FREE_TEXT_QUESTIONS = (
    "project_name",
    "project_slug",
    "description",
    "author",
    "registry",
    "image_namespace",
    "web_port",
    "tracker_ci_action",
    "default_branch",
)
ANSWERS = {question: CONTEXT[question] for question in FREE_TEXT_QUESTIONS}

MAX_TEXT_LENGTH = 200
SLUG = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
HOST_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
REGISTRY = re.compile(rf"{HOST_LABEL}(?:\.{HOST_LABEL})*(?::[0-9]+)?")  # no double braces: Jinja renders this file
# A repository path component, as the OCI distribution spec defines it.
PATH_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*"
NAMESPACE = re.compile(rf"{PATH_COMPONENT}(?:/{PATH_COMPONENT})*")
DOCKER_HUB_NAMESPACE = re.compile(r"[a-z0-9]{2,30}")
GITHUB_OWNER = re.compile(r"[a-z0-9](?:-?[a-z0-9]){0,38}")
ACTION_REF = re.compile(r"[A-Za-z0-9-]+/[A-Za-z0-9._-]+(?:/[A-Za-z0-9._-]+)*@[A-Za-z0-9._/-]+")
BRANCH = re.compile(r"(?![./-])(?!.*\.\.)(?!.*//)(?!.*\.lock$)(?!.*[./]$)[A-Za-z0-9._/-]+")


def printable_problem(value: str) -> str | None:
    # Every category C: control (a newline, a tab), format (invisible marks such as U+202E, which makes text read
    # otherwise than it is), surrogate, private-use and unassigned.
    if any(unicodedata.category(char).startswith("C") for char in value):
        return "must not contain control characters, nor invisible, private-use or unassigned ones (e.g. U+202E)"
    if len(value) > MAX_TEXT_LENGTH:
        return f"must be at most {MAX_TEXT_LENGTH} characters long"
    return None


def project_name_problem(value: str) -> str | None:
    return "must not be empty" if not value.strip() else None


def slug_problem(value: str) -> str | None:
    if not SLUG.fullmatch(value):
        return (
            "must be lower-case letters and digits in words joined by single hyphens, starting with a letter"
            " (it is derived from project_name unless you set it)"
        )
    package = value.replace("-", "_")
    if keyword.iskeyword(package) or keyword.issoftkeyword(package):
        return f"gives the package name {package!r}, which is a Python keyword"
    return None


def registry_problem(value: str) -> str | None:
    if not REGISTRY.fullmatch(value):
        return "must be docker.io, ghcr.io or a lower-case host name with an optional :port"
    if ":" in value and not 1 <= int(value.rsplit(":", 1)[1]) <= 65535:
        return "has a port outside 1-65535"
    return None


def namespace_problem(value: str, registry: str) -> str | None:
    if registry == "docker.io" and not DOCKER_HUB_NAMESPACE.fullmatch(value):
        return "must be a Docker Hub user or organization: 2-30 lower-case letters and digits"
    if registry == "ghcr.io" and not GITHUB_OWNER.fullmatch(value.split("/", 1)[0]):
        return "must start with a GitHub owner in lower case (letters, digits, single hyphens)"
    if not NAMESPACE.fullmatch(value):
        return "must be lower-case path components (letters, digits, '.', '_', '-') separated by '/'"
    return None


def port_problem(value: str) -> str | None:
    if not value.isascii() or not value.isdigit() or not 1 <= int(value) <= 65535:
        return "must be a port number from 1 to 65535"
    return None


def action_ref_problem(value: str) -> str | None:
    return None if ACTION_REF.fullmatch(value) else "must look like owner/repo@ref (e.g. org/tracker-ci@v1)"


def branch_problem(value: str) -> str | None:
    if not BRANCH.fullmatch(value):
        return "must be a git branch name of letters, digits, '.', '_', '-' and '/'"
    return None


def template_questions(repo_dir: str) -> dict:
    """The template's own cookiecutter.json. _repo_dir is relative when cookiecutter was given a relative
    local path: relative to the folder it was started from, which this hook (run in the project folder)
    knows only as the shell's PWD."""
    for folder in (Path(repo_dir), Path(os.environ.get("PWD", "/nonexistent")) / repo_dir):
        if (folder / "cookiecutter.json").is_file():
            return json.loads((folder / "cookiecutter.json").read_text(encoding="utf-8"))
    raise SystemExit(f"ERROR: cannot find the template's cookiecutter.json from {repo_dir!r}: give its absolute path")


def choice_problems(context: dict, template: dict) -> list[str]:
    """Every answer to a choice question must be one of the template's own choices."""
    return [
        f"{question}: {context.get(question)!r} must be one of {', '.join(choices)}"
        for question, choices in template.items()
        if isinstance(choices, list) and context.get(question) not in choices
    ]


def derived_problems(context: dict, template: dict) -> list[str]:
    """Derived values (`__` keys) must be what the template derives from the answers, never set by hand."""
    environment = StrictEnvironment(context={"cookiecutter": context})
    return [
        f"{name}: {context.get(name)!r} is derived from the other answers and cannot be given"
        for name, expression in template.items()
        if name.startswith("__")
        and isinstance(expression, str)
        and context.get(name) != environment.from_string(expression).render(cookiecutter=context)
    ]


def private_problems(context: dict, template: dict) -> list[str]:
    """Private values (one `_`: the pinned actions, the runner labels) are the template's own, never answered: a
    replay file or the command line could otherwise point a workflow at another commit or a self-hosted runner."""
    return [
        f"{name}: is the template's own value and cannot be given"
        for name, value in template.items()
        if name.startswith("_") and not name.startswith("__") and context.get(name) != value
    ]


def problems(answers: dict) -> list[str]:
    """Every wrong answer, each as 'question: reason'."""
    checks = {
        "project_name": project_name_problem,
        "project_slug": slug_problem,
        "registry": registry_problem,
        "image_namespace": lambda value: namespace_problem(value, answers["registry"]),
        "web_port": port_problem,
        "tracker_ci_action": action_ref_problem,
        "default_branch": branch_problem,
    }
    found = []
    for question, value in answers.items():
        problem = printable_problem(value) or checks.get(question, lambda _: None)(value)
        if problem:
            found.append(f"{question}: {value!r} {problem}")
    return found


def main() -> int:
    found = problems(ANSWERS)
    # Cookiecutter's own entry point, the one replay files come through, names the template folder. cruft
    # builds the context itself with cookiecutter's generate_context, which refuses a value outside a
    # choice list, re-derives every `__` value and (cruft update) passes no `_` value of .cruft.json: there is
    # nothing further to check against then.
    if "_repo_dir" in CONTEXT:
        template = template_questions(CONTEXT["_repo_dir"])
        found += choice_problems(CONTEXT, template) + derived_problems(CONTEXT, template)
        found += private_problems(CONTEXT, template)
    for problem in found:
        print(f"ERROR: {problem}", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
