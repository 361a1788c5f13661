"""The template's facts, read once from cookiecutter.json: its questions, their defaults, and the values it
derives (`__` keys), rendered exactly as cookiecutter renders them.

Run as `python -m testkit.template` it prints the arguments of scripts/base-images.sh, one per line: every base
image the template can reference (the bootstrap makes sure each is in the engine), those of the default Python
after `--platforms=` with every platform a project can build for."""

import json

from cookiecutter.environment import StrictEnvironment

from testkit.harness import REPO_ROOT

# The template's project folder, named by the value cookiecutter.json derives: the slug only when it cannot be a path.
TEMPLATE_DIR = "{{ cookiecutter.__project_dir }}"
# What a copy of the template needs: its questions, hooks, Jinja templates folder and project folder.
TEMPLATE_PARTS = ("cookiecutter.json", "hooks", "templates", TEMPLATE_DIR)
COOKIECUTTER_JSON = json.loads((REPO_ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
QUESTIONS = {name: value for name, value in COOKIECUTTER_JSON.items() if not name.startswith("_")}
DEFAULT_ANSWERS = {name: value[0] if isinstance(value, list) else value for name, value in QUESTIONS.items()}


def context(**answers) -> dict:
    """The context cookiecutter renders for the given answers (the defaults otherwise): every text value
    rendered in order, so a derived value sees the ones before it; private `_` values copied as they are."""
    rendered = {}
    environment = StrictEnvironment(context={"cookiecutter": rendered})
    for name, value in COOKIECUTTER_JSON.items():
        value = answers.get(name, DEFAULT_ANSWERS.get(name, value))
        if isinstance(value, str) and not (name.startswith("_") and not name.startswith("__")):
            value = environment.from_string(value).render(cookiecutter=rendered)
        rendered[name] = value
    return rendered


def derived(name: str, **answers) -> str:
    """The value cookiecutter.json derives as `name` from the given answers (the defaults otherwise)."""
    return context(**answers)[name]


def base_image_args(context: dict = COOKIECUTTER_JSON) -> list[str]:
    """Every base image a project can name: one per Python version, one per Redis tag, the edge proxy; then, for
    every platform a project can build for, the images of the default Python's build (its Python and uv's): the
    suite builds those for each platform, the others only for the machine's own."""
    pythons = [derived("__python_image", python_version=version) for version in context["python_version"]]
    redises = [derived("__redis_image", redis_version=tag) for tag in context["redis_version"]]
    platforms = sorted({platform for answer in context["platforms"] for platform in answer.split(",")})
    return (
        pythons[1:]
        + redises
        + [derived("__proxy_image")]
        + [f"--platforms={','.join(platforms)}", pythons[0], derived("__uv_image")]
    )


if __name__ == "__main__":
    print("\n".join(base_image_args()))
