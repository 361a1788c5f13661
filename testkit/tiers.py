"""The suite's tiers, as the Makefile defines them, and the tests a marker expression selects: what our CI's jobs
and benchmarks/suite.py's breakdown both read."""

import sys
from pathlib import Path

from testkit.harness import REPO_ROOT, require_command, run


def tiers(checkout: Path = REPO_ROOT) -> dict[str, str]:
    """Each tier's name and marker expression (`make tiers`)."""
    lines = run([require_command("make"), "--silent", "--no-print-directory", "tiers"], cwd=checkout).stdout
    return dict(line.split("=", 1) for line in lines.splitlines())


def selected(expression: str | None = None, checkout: Path = REPO_ROOT) -> set[str]:
    """The node IDs of the tests a marker expression selects (every test without one)."""
    collect = [sys.executable, "-m", "pytest", "--collect-only", "--quiet", "-p", "no:cacheprovider"]
    listing = run([*collect, *(["-m", expression] if expression else [])], cwd=checkout, check=False).stdout
    return {line for line in listing.splitlines() if "::" in line}
