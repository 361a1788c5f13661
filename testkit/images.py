"""The images in the engine: the platforms an image holds and the architecture of its programs, their size,
what must never be in the runtime image, removal."""

import io
import json
import platform
import subprocess
import tarfile

from testkit.harness import require_command, run

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


# The machine field of an ELF header (e_machine, elf.h) by the platform whose processor runs it.
ELF_MACHINES = {"linux/amd64": 62, "linux/arm64": 183}
NATIVE_PLATFORM = {"x86_64": "linux/amd64", "aarch64": "linux/arm64"}[platform.machine()]
# Where an image's programs live: the official images install under /usr/local, Debian's packages under /usr.
PROGRAM_FOLDERS = ("/usr/local/bin", "/usr/local/sbin", "/usr/bin", "/usr/sbin", "")


def image_platforms(reference: str) -> list[str]:
    """The platforms an image holds in the engine: each image manifest of its index whose content is there
    (containerd store; the engine's API lists them with `manifests=1`), or its one platform (classic store)."""
    curl = require_command("curl")
    url = f"http://docker/images/{reference}/json?manifests=1"
    image = json.loads(run([curl, "--silent", "--fail", "--unix-socket", "/var/run/docker.sock", url]).stdout)
    manifests = image.get("Manifests") or []
    if not manifests:
        return [f"{image['Os']}/{image['Architecture']}"]
    return sorted(
        f"{manifest['ImageData']['Platform']['os']}/{manifest['ImageData']['Platform']['architecture']}"
        for manifest in manifests
        if manifest["Kind"] == "image" and manifest["Available"]
    )


def elf_machine_of_program(reference: str, platform_name: str, program: str) -> int | None:
    """The ELF machine of `program` (found on the usual folders of the PATH, symlinks followed) in the image's
    variant for the platform, read from a container that is created but never started (nothing runs, so no
    emulation hides a wrong architecture); None when the image has no such program."""
    container = run(["docker", "create", "--platform", platform_name, reference, "true"]).stdout.strip()
    try:
        for folder in PROGRAM_FOLDERS:
            source = f"{container}:{folder}/{program}"
            copy = subprocess.run(["docker", "cp", "--follow-link", source, "-"], capture_output=True, check=False)
            if copy.returncode == 0:
                with tarfile.open(fileobj=io.BytesIO(copy.stdout)) as archive:
                    header = archive.extractfile(archive.getmembers()[0]).read(20)
                assert header[:4] == b"\x7fELF", f"{folder}/{program} in {reference} is not an ELF program"
                return int.from_bytes(header[18:20], "little")
        return None
    finally:
        run(["docker", "rm", "--volumes", container])


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
