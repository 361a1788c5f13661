"""Wall time of this repository's test suite, run as the Makefile runs it: each pass, each tier and the 25 slowest
tests.

On this machine as it is: `make test-fast` and `make test` (whose bootstrap finds what earlier runs made).
With --fresh-machine, as CI on a new machine: a clean clone of HEAD, empty cache folders (the bootstrap's, pip's,
uv's and npm's) and empty engine data roots (TRACKER_CI_ENGINE_DATA); the engine the bootstrap started from the
usual cache is stopped first, by its PID, so that the bootstrap starts a new one. Then, each timed: `make test`
(all of `.ci/run`: the bootstrap, then every pass, on an engine with no image and no build cache), and, unless
--no-warm-rerun, `make test` again on what the first left (a warm machine). What it cannot undo: the system packages
the bootstrap installs with apt stay installed, so on a bare machine the bootstrap takes that install longer (its
log says how long each step took).

Each pytest pass writes its JUnit XML report (the Makefile's REPORTS): the tests' times come from there, and each
tier's time is the sum of its tests' (the tiers as `make tiers` names them).

Run from the repository root: .venv/bin/python -m benchmarks.suite [--fast-only | --fresh-machine [--no-warm-rerun]]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from xml.etree import ElementTree

from benchmarks.common import print_table, save
from testkit.harness import CACHE_DIR, REPO_ROOT, run
from testkit.tiers import selected, tiers

BOOTSTRAP = REPO_ROOT / "scripts" / "bootstrap.sh"
TARGETS = {"fast tier": ["make", "test-fast"], "whole suite": ["make", "test"]}
SLOWEST = 25


def timed(command: list[str], cwd: Path, env: dict | None = None) -> dict:
    """Runs the command with its output on this terminal; its wall time and exit code."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, check=False)
    return {"seconds": round(time.perf_counter() - started, 1), "exit_code": result.returncode}


def timed_make(target: list[str], cwd: Path, reports: Path, env: dict | None = None) -> dict:
    """A make target timed, each of its pytest passes writing its report into `reports`; with the tests' times."""
    reports.mkdir(parents=True)
    timing = timed(target, cwd, (env or os.environ) | {"REPORTS": str(reports)})
    return timing | {"tests": test_times(reports)}


def test_times(reports: Path) -> dict[str, dict[str, float]]:
    """Each pass's tests (by node ID) and their seconds (setup, call and teardown), from its JUnit XML report."""
    passes = {}
    for report in sorted(reports.glob("*.xml")):
        passes[report.stem] = {
            f"{case.get('classname').replace('.', '/')}.py::{case.get('name')}": float(case.get("time", 0))
            for case in ElementTree.parse(report).iter("testcase")
        }
    return passes


def print_breakdown(name: str, passes: dict[str, dict[str, float]], cwd: Path) -> None:
    """Each pass's and each tier's summed test time, and the slowest tests of all passes."""
    print(f"\n{name}: each pass")
    print_table(["pass", "tests", "seconds"], [[p, len(t), round(sum(t.values()))] for p, t in passes.items()])
    containerd = {test: seconds for p, tests in passes.items() if p != "classic" for test, seconds in tests.items()}
    rows = []
    for tier, expression in tiers(cwd).items():
        chosen = selected(expression, cwd) & containerd.keys()
        rows.append([tier, len(chosen), round(sum(containerd[test] for test in chosen))])
    print(
        f"\n{name}: each tier on the containerd store (the sum of its tests' times; the fast tier runs on every core)"
    )
    print_table(["tier", "tests", "seconds"], rows)
    slowest = sorted(((s, p, test) for p, tests in passes.items() for test, s in tests.items()), reverse=True)
    print(f"\n{name}: the {SLOWEST} slowest tests")
    print_table(["seconds", "pass", "test"], [[round(s, 1), p, test] for s, p, test in slowest[:SLOWEST]])


def stop_bootstrap_engine(cache_dir: Path) -> None:
    """Stops the dockerd that the bootstrap started with this cache folder, if it still runs: the bootstrap's own
    functions, which find it by its PID file and check that the process is a dockerd."""
    stop = 'source "$1"; pid=$(own_dockerd_pid); [ -z "$pid" ] || stop_own_engine "$pid"'
    run(["bash", "-c", stop, "stop_bootstrap_engine", BOOTSTRAP], env=os.environ | {"TRACKER_CI_CACHE": str(cache_dir)})


def fresh_machine(workdir: Path, warm_rerun: bool) -> tuple[dict, Path]:
    clone = workdir / "clone"
    run(["git", "clone", "--quiet", REPO_ROOT, clone])
    env = os.environ | {
        "CI": "true",
        # Every cache a new machine starts without: the bootstrap's (under XDG_CACHE_HOME), pip's, uv's and npm's.
        "XDG_CACHE_HOME": str(workdir / "cache-home"),
        "npm_config_cache": str(workdir / "npm-cache"),
        "TRACKER_CI_ENGINE_DATA": str(workdir / "engine-data"),
    }
    stop_bootstrap_engine(CACHE_DIR)
    try:
        # `make test` provisions first, as .ci/run runs it: the fresh machine's figure includes the bootstrap.
        timings = {"make test, fresh machine": timed_make(["make", "test"], clone, workdir / "reports-fresh", env)}
        if warm_rerun:
            timings["make test, warm machine"] = timed_make(["make", "test"], clone, workdir / "reports-warm", env)
        return timings, clone
    finally:
        stop_bootstrap_engine(workdir / "cache-home" / "tracker-ci")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--fast-only", action="store_true")
    choice.add_argument("--fresh-machine", action="store_true")
    parser.add_argument("--no-warm-rerun", action="store_true", help="with --fresh-machine: the fresh run alone")
    options = parser.parse_args()
    # Kept for a look afterwards (engine data roots hold root-owned files and, while an engine runs, mounts).
    workdir = Path(tempfile.mkdtemp(prefix="tracker-ci-suite-"))
    if options.fresh_machine:
        timings, checkout = fresh_machine(workdir, warm_rerun=not options.no_warm_rerun)
    else:
        targets = ["fast tier"] if options.fast_only else list(TARGETS)
        checkout = REPO_ROOT
        timings = {
            name: timed_make(TARGETS[name], checkout, workdir / f"reports-{i}") for i, name in enumerate(targets)
        }
    print_table(["run", "seconds", "exit code"], [[name, t["seconds"], t["exit_code"]] for name, t in timings.items()])
    for name, timing in timings.items():
        if timing.get("tests"):
            print_breakdown(name, timing["tests"], checkout)
    print(f"\nthe reports (and with --fresh-machine the clone, cache and engine data) are in {workdir}")
    commit = run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT).stdout.strip()
    save("suite-fresh-machine" if options.fresh_machine else "suite", {"commit": commit, **timings})
    return max(t["exit_code"] for t in timings.values())


if __name__ == "__main__":
    sys.exit(main())
