"""The images a build leaves in the engine: their size, what must never be in the runtime image, removal."""

from testkit.harness import run

# Paths inside the runtime image that would mean build tools, caches or dev dependencies leaked in.
RUNTIME_IMAGE_FORBIDDEN = [
    "/home/app/.venv/bin/pip",
    "/home/app/.venv/bin/pytest",
    "/home/app/.venv/bin/pylint",
    "/home/app/.venv/bin/ruff",
    "/home/app/.venv/bin/black",
    "/usr/local/bin/uv",
    "/home/app/src",
    "/home/app/test",
    "/home/app/.cache",
    "/root/.cache",
    "/var/lib/apt/lists/lock",
]


def image_bytes(reference: str) -> int:
    return int(run(["docker", "image", "inspect", "--format", "{{.Size}}", reference]).stdout)


def runtime_image_leftovers(image: str) -> list[str]:
    """Which of RUNTIME_IMAGE_FORBIDDEN exist in the image."""
    probe = "import os, sys; print(' '.join(p for p in sys.argv[1:] if os.path.exists(p)))"
    return run(["docker", "run", "--rm", image, "python", "-c", probe, *RUNTIME_IMAGE_FORBIDDEN]).stdout.split()


def remove_images(*references: str, check: bool = True) -> None:
    """Removes every image whose name matches one of Docker's reference patterns, tagged or left untagged
    by a newer pull of the same name."""
    listing = ["docker", "images", "--quiet", "--filter"]
    images = {image for reference in references for image in run([*listing, f"reference={reference}"]).stdout.split()}
    if images:
        run(["docker", "rmi", "--force", *sorted(images)], check=check)


def empty_engine_but_base_images(*references: str) -> None:
    """The engine as on a fresh GitHub runner: no build cache and no image matching the references (the
    project's own); the base images stay."""
    remove_images(*references)
    run(["docker", "builder", "prune", "--all", "--force"])
