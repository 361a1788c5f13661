"""The reusable workflow, rendered from its source (templates/pipeline.yml) as cookiecutter renders the template:
the same Jinja environment, the template's default answers and templates/workflow.j2's macros, which the template's
own workflow imports too.

Run as `python -m testkit.pipeline` it writes .github/workflows/pipeline.yml (`make pipeline`)."""

from cookiecutter.environment import StrictEnvironment
from jinja2 import FileSystemLoader

from testkit.harness import REPO_ROOT
from testkit.template import context

TEMPLATES = REPO_ROOT / "templates"
PIPELINE_SOURCE = TEMPLATES / "pipeline.yml"
PIPELINE_FILE = REPO_ROOT / ".github" / "workflows" / "pipeline.yml"


def rendered_pipeline() -> str:
    """The reusable workflow as its source renders with the template's default answers."""
    answers = context()
    environment = StrictEnvironment(context={"cookiecutter": answers}, keep_trailing_newline=True)
    environment.loader = FileSystemLoader(TEMPLATES)
    return environment.get_template(PIPELINE_SOURCE.name).render(cookiecutter=answers)


if __name__ == "__main__":
    PIPELINE_FILE.write_text(rendered_pipeline(), encoding="utf-8")
