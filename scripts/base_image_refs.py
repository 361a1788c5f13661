"""Prints, one per line, every base image reference the template can write (from cookiecutter.json)."""

import json
from pathlib import Path

TEMPLATE_ROOT = Path(__file__).resolve().parent.parent


def base_image_refs(context: dict) -> list[str]:
    pythons = [f"python:{version}-slim-trixie" for version in context["python_version"]]
    redises = [f"redis:{tag}" for tag in context["redis_version"]]
    return pythons + redises


if __name__ == "__main__":
    cookiecutter_json = json.loads((TEMPLATE_ROOT / "cookiecutter.json").read_text(encoding="utf-8"))
    print("\n".join(base_image_refs(cookiecutter_json)))
