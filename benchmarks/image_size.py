"""Size of the default project's runtime image: bytes it adds over its base image, and its total.
Also lists what must not be in it (pip, dev dependencies, caches, apt lists) if any of it is.

Run: .venv/bin/python benchmarks/image_size.py
"""

import secrets
import sys
import tempfile
from pathlib import Path

from common import bake_default, print_table, run, save

# Paths inside the runtime image that would mean build tools, caches or dev dependencies leaked in.
FORBIDDEN = ["/home/app/venv/bin/pip", "/home/app/venv/bin/pytest", "/home/app/venv/bin/pylint", "/home/app/.cache",
             "/root/.cache", "/home/app/dev-venv", "/var/lib/apt/lists/lock"]  # fmt: skip


def image_size(reference: str) -> int:
    return int(run(["docker", "image", "inspect", "--format", "{{.Size}}", reference]).stdout)


def leftovers(image: str) -> list[str]:
    probe = "import os, sys; print('\\n'.join(p for p in sys.argv[1:] if os.path.exists(p)))"
    return run(["docker", "run", "--rm", image, "python", "-c", probe, *FORBIDDEN]).stdout.split()


def main() -> int:
    name = f"bench-{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory() as workdir:
        project = bake_default(Path(workdir), project_name=name)
        base = next(line.split()[1] for line in (project / "web" / "Dockerfile").read_text().splitlines()
                    if line.startswith("FROM ") and " AS " not in line)  # fmt: skip
        image = f"{name}-web-service"
        run(["docker", "compose", "--project-name", name, "build", "web-service"], cwd=project, timeout=1800)
        try:
            total, base_size, found = image_size(image), image_size(base), leftovers(image)
        finally:
            run(["docker", "rmi", "--force", image], check=False)
    added = total - base_size
    print_table(
        ["runtime image", "MB"], [["added over " + base, f"{added / 1e6:.1f}"], ["total", f"{total / 1e6:.1f}"]]
    )
    print("\nleft in the image that should not be:", ", ".join(found) or "nothing")
    save("image_size", {"base_image": base, "added_bytes": added, "total_bytes": total, "leftovers": found})
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
