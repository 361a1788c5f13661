"""Wall time of this repository's test suite, run as the Makefile runs it.

On this machine as it is: `make test-fast` and `make test` (whose bootstrap finds what earlier runs made).
With --fresh-machine, as CI on a new machine: a clean clone of HEAD, empty cache folders (the bootstrap's, pip's,
uv's and npm's) and empty engine data roots (TRACKER_CI_ENGINE_DATA); the engine the bootstrap started from the
usual cache is stopped first, by its PID, so that the bootstrap starts a new one. Then, each timed: the bootstrap
(the fresh machine's provisioning), `make test` (the rest of `.ci/run`, builds on an engine with no build cache),
and `make test` again on what the first left (a warm machine). What it cannot undo: the system packages the
bootstrap installs with apt stay installed, so on a bare machine the bootstrap takes that install longer (its log
says how long each step took).

Run from the repository root: .venv/bin/python -m benchmarks.suite [--fast-only | --fresh-machine]
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.common import print_table, save
from testkit.harness import CACHE_DIR, REPO_ROOT, run

BOOTSTRAP = REPO_ROOT / "scripts" / "bootstrap.sh"
TIERS = {"fast tier": ["make", "test-fast"], "whole suite": ["make", "test"]}


def timed(command: list[str], cwd: Path, env: dict | None = None) -> dict:
    """Runs the command with its output on this terminal; its wall time and exit code."""
    started = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, check=False)
    return {"seconds": round(time.perf_counter() - started, 1), "exit_code": result.returncode}


def stop_bootstrap_engine(cache_dir: Path) -> None:
    """Stops the dockerd that the bootstrap started with this cache folder, if it still runs: the bootstrap's own
    functions, which find it by its PID file and check that the process is a dockerd."""
    stop = 'source "$1"; pid=$(own_dockerd_pid); [ -z "$pid" ] || stop_own_engine "$pid"'
    run(["bash", "-c", stop, "stop_bootstrap_engine", BOOTSTRAP], env=os.environ | {"TRACKER_CI_CACHE": str(cache_dir)})


def fresh_machine(workdir: Path) -> dict:
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
        return {
            "bootstrap, fresh machine": timed(["bash", "scripts/bootstrap.sh"], clone, env),
            "make test, fresh machine": timed(["make", "test"], clone, env),
            "make test, warm machine": timed(["make", "test"], clone, env),
        }
    finally:
        stop_bootstrap_engine(workdir / "cache-home" / "tracker-ci")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    choice = parser.add_mutually_exclusive_group()
    choice.add_argument("--fast-only", action="store_true")
    choice.add_argument("--fresh-machine", action="store_true")
    options = parser.parse_args()
    if options.fresh_machine:
        # Kept for a look afterwards (engine data roots hold root-owned files and, while an engine runs, mounts).
        workdir = Path(tempfile.mkdtemp(prefix="tracker-ci-fresh-machine-"))
        timings = fresh_machine(workdir)
        print(f"\nthe fresh machine's clone, cache and engine data are in {workdir}")
    else:
        tiers = ["fast tier"] if options.fast_only else list(TIERS)
        timings = {tier: timed(TIERS[tier], REPO_ROOT) for tier in tiers}
    commit = run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT).stdout.strip()
    print_table(["run", "seconds", "exit code"], [[name, t["seconds"], t["exit_code"]] for name, t in timings.items()])
    save("suite-fresh-machine" if options.fresh_machine else "suite", {"commit": commit, **timings})
    return max(t["exit_code"] for t in timings.values())


if __name__ == "__main__":
    sys.exit(main())
