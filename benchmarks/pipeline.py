"""Wall time of the action's own flow (action/test.sh: build, up --wait, e2e tests, teardown) for the
default project on the local engine: cold (a fresh project name, so none of its dependency or source
layers is cached; base images present) and warm (after a one-line change to app.py).

Run: .venv/bin/python benchmarks/pipeline.py
"""

import secrets
import tempfile
import time
from pathlib import Path

from common import REPO_ROOT, bake_default, print_table, run, save
from projects import action_test_env


def run_flow(project: Path, compose_project: str, workdir: Path) -> float:
    # WEB_PORT=0: any free host port, so a benchmark never collides with a running service.
    env = {**action_test_env(project, compose_project, workdir / "outputs"), "WEB_PORT": "0"}
    started = time.perf_counter()
    run([REPO_ROOT / "action" / "test.sh"], env=env, timeout=1800)
    return time.perf_counter() - started


def main() -> None:
    name = f"bench-{secrets.token_hex(4)}"
    with tempfile.TemporaryDirectory() as workdir:
        project = bake_default(Path(workdir), project_name=name)
        cold = run_flow(project, name, Path(workdir))
        app = next((project / "web" / "src").glob("*/app.py"))
        source = app.read_text(encoding="utf-8")
        app.write_text(source.replace('"Redis error"', '"Redis error while counting"'), encoding="utf-8")
        warm = run_flow(project, name, Path(workdir))
        images = run(["docker", "images", "--quiet", "--filter", f"reference={name}-*"]).stdout.split()
        run(["docker", "rmi", "--force", *images], check=False)
    print_table(["pipeline (action/test.sh)", "seconds"], [["cold", f"{cold:.1f}"], ["warm", f"{warm:.1f}"]])
    save("pipeline", {"cold_seconds": round(cold, 1), "warm_seconds": round(warm, 1)})


if __name__ == "__main__":
    main()
