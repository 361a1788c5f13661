"""Wall time of this repository's test suite: the fast tier (no engine) and the whole suite.

Run from the repository root: .venv/bin/python -m benchmarks.suite [--fast-only]
"""

import argparse
import subprocess
import sys
import time

from benchmarks.common import print_table, save
from testkit.harness import REPO_ROOT

TIERS = {"fast tier": ["-m", "not docker and not act and not venv"], "whole suite": []}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--fast-only", action="store_true")
    options = parser.parse_args()
    timings = {}
    for tier, args in TIERS.items():
        if options.fast_only and tier != "fast tier":
            continue
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-m", "pytest", "-q", *args], cwd=REPO_ROOT, check=False)
        timings[tier] = {"seconds": round(time.perf_counter() - started, 1), "exit_code": result.returncode}
    print_table(["tier", "seconds", "exit code"], [[tier, t["seconds"], t["exit_code"]] for tier, t in timings.items()])
    save("suite", timings)
    return max(t["exit_code"] for t in timings.values())


if __name__ == "__main__":
    sys.exit(main())
