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


# `make test`'s side-by-side pass (tests/conftest.py's TierScheduling) runs these first on one worker: the act tests
# that build arm64 under QEMU (the run's longest when the arm64 build is cold), one after the other, so that the second
# finds the layers the first built. Each names a collected test (a test holds that), or a part of one's node ID before
# its parameters. The other tests go in units of a module to whichever worker runs out of work first; the modules that
# share a session fixture which takes seconds to make go as one unit (SHARED_FIXTURE_UNITS), so that no worker makes it
# again.
EMULATED_WORKER = (
    "tests/test_action_act.py::test_should_push_one_signed_attested_index_of_platforms_each_tested_end_to_end",
    "tests/test_action_act.py::test_should_test_each_platform_in_its_own_job_then_merge_tag_and_sign_exactly_those",
)

# Modules whose tests share a session fixture that takes seconds to make, and the unit they go in: the projects baked
# and installed in a venv per style gate (tests/conftest.py's installed_project).
SHARED_FIXTURE_UNITS = {
    "tests/test_generated_project.py": "installed projects",
    "tests/test_hostile_answers.py": "installed projects",
    "tests/test_template_updates.py": "installed projects",
}
