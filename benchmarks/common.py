"""What the benchmark scripts share: baking the default project, results on disk, a printed table."""

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

from testkit.harness import REPO_ROOT
from testkit.projects import lock_dependencies

BENCHMARKS = Path(__file__).resolve().parent

RESULTS = BENCHMARKS / "results"


def bake_default(output_dir: Path, **answers) -> Path:
    """The project as its README's first commands leave it: generated, its dependencies locked."""
    from cookiecutter.main import cookiecutter  # pylint: disable=import-outside-toplevel

    project = Path(cookiecutter(str(REPO_ROOT), no_input=True, output_dir=str(output_dir), extra_context=answers))
    lock_dependencies(project)
    return project


def machine() -> dict:
    cpus = len(os.sched_getaffinity(0))
    return {"cpus": cpus, "python": platform.python_version(), "kernel": platform.release()}


def print_table(headers: list[str], rows: list[list]) -> None:
    cells = [headers, *[[str(cell) for cell in row] for row in rows]]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    for index, row in enumerate(cells):
        print("  ".join(cell.rjust(width) if column else cell.ljust(width)
                        for column, (cell, width) in enumerate(zip(row, widths, strict=True))))  # fmt: skip
        if index == 0:
            print("  ".join("-" * width for width in widths))


def save(name: str, data: dict) -> Path:
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / f"{name}.json"
    stamped = {"measured_at": datetime.now(UTC).isoformat(timespec="seconds"), "machine": machine(), **data}
    path.write_text(json.dumps(stamped, indent=2) + "\n", encoding="utf-8")
    print(f"\nwrote {path.relative_to(REPO_ROOT)}")
    return path
