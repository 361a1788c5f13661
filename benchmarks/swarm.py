"""Requests per second through the swarm's HAProxy edge by web replica count, with Redis's own ceiling beside.

A default project with deploy=swarm runs on the swarm tier's three-node swarm (testkit.swarm: engines in
containers on this one machine, so every replica shares its CPUs): deploy/deploy.sh deploys the image by
digest with 1, 2, 3 and 6 web replicas in turn, and wrk (-t2 -c32, bounded in seconds) loads one node's
proxy after a warm-up. The Redis ceiling is redis-benchmark's INCR rate (32 clients, no pipelining, as the
app sends them) against a redis-server on this machine. Prints a table, writes results/swarm.json.

Run from the repository root: .venv/bin/python -m benchmarks.swarm [--duration 6]
"""

import argparse
import sys
import tempfile
from pathlib import Path

from benchmarks.common import bake_default, print_table, save
from benchmarks.throughput import wrk
from testkit.harness import redis_server_process, require_command, run
from testkit.projects import unique_name
from testkit.stack import SwarmProject, base_images, build_web_image
from testkit.swarm import swarm_of

REPLICAS = (1, 2, 3, 6)


def redis_incr_ceiling(workdir: Path) -> float:
    with redis_server_process(workdir) as url:
        port = url.rsplit(":", 1)[1].split("/")[0]
        output = run([require_command("redis-benchmark"), "-p", port, "-t", "incr", "-n", "200000", "-c", "32",
                      "--csv"]).stdout  # fmt: skip
    return float(output.strip().splitlines()[-1].split(",")[1].strip('"'))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--duration", type=int, default=6, help="seconds of each wrk run")
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tracker-ci-bench-swarm-") as temporary:
        workdir = Path(temporary)
        project = bake_default(workdir / "project", deploy="swarm")
        name = unique_name("tracker-ci-bench")
        web_image = build_web_image(project, name)
        rows, results = [], {}
        try:
            with swarm_of(3, name, workdir / "swarm", hub_storage=workdir / "hub") as swarm:
                image = swarm.push(web_image, "realpython/page-tracker:bench")
                swarm.mirror(*base_images(deploy="swarm"))
                deployed = SwarmProject(swarm, project)
                deployed.upload()
                url = deployed.url(swarm.nodes[1])
                for replicas in REPLICAS:
                    deployed.deploy(image, WEB_REPLICAS=replicas)
                    wrk(url, 2)  # warm-up: connections, the proxy's health checks
                    measured = wrk(url, options.duration)
                    results[str(replicas)] = measured
                    rows.append([replicas, f"{measured['requests_per_second']:.0f}", measured["p50_ms"],
                                 measured["p99_ms"], measured["non_2xx"] + measured["socket_errors"]])  # fmt: skip
        finally:
            run(["docker", "rmi", web_image], check=False)
        ceiling = redis_incr_ceiling(workdir)
    print_table(["web replicas", "requests/s", "p50 ms", "p99 ms", "errors"], rows)
    print(f"\nRedis INCR ceiling (redis-benchmark, 32 clients): {ceiling:.0f} ops/s")
    save("swarm", {"wrk": "-t2 -c32", "duration_s": options.duration, "by_replicas": results,
                   "redis_incr_per_second": ceiling})  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
