"""Size of the default project's runtime image: bytes it adds over its base image, and its total.
Also lists what must not be in it (pip, dev dependencies, caches, apt lists) if any of it is.

Run from the repository root: .venv/bin/python -m benchmarks.image_size
"""

import secrets
import sys
import tempfile
from pathlib import Path

from benchmarks.common import bake_default, print_table, save
from testkit.dockerfile import runtime_base_image
from testkit.harness import run
from testkit.images import image_bytes, runtime_image_leftovers


def main() -> int:
    name = f"bench-{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory() as workdir:
        project = bake_default(Path(workdir), project_name=name)
        base = runtime_base_image(project)
        image = f"{name}-web-service"
        run(["docker", "compose", "--project-name", name, "build", "web-service"], cwd=project, timeout=1800)
        try:
            total, base_size, found = image_bytes(image), image_bytes(base), runtime_image_leftovers(image)
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
