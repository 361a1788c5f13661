"""Throughput of the default project under a bounded wrk load, against a real Redis, in three setups
measured in the same run: short rounds, the three setups back to back in each, so that every ratio compares
moments of the same VM state (this VM's speed drifts within minutes); medians reported:

- template: exactly the server command of the runtime image (gunicorn with gunicorn_config.py);
- tutorial: the tutorial's `gunicorn <package>.app:app` (one sync worker);
- ceiling:  a minimal WSGI callable doing one Redis INCR per request, with the template's settings.

Each setup then takes a count-bounded load (every response awaited): the Redis counter must rise by
exactly the number of 200 responses. Prints a table, writes results/throughput.json and throughput.png.

Run from the repository root: .venv/bin/python -m benchmarks.throughput [--duration 4] [--rounds 9]
"""

import argparse
import re
import statistics
import sys
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import redis

from benchmarks.common import BENCHMARKS, bake_default, print_table, save
from testkit.dockerfile import server_command
from testkit.harness import free_port, redis_server_process, require_command, run, wait_until
from testkit.load import bounded_load
from testkit.projects import app_source, make_venv
from testkit.serving import serving

CEILING_APP = """import os

from redis import Redis

_redis = Redis.from_url(os.environ["REDIS_URL"])


def app(environ, start_response):
    body = f"This page has been seen {_redis.incr('page_views')} times.".encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
"""


def setups(project: Path, package: str) -> dict:
    """Server command per setup, with {bind} where the address goes."""
    template = server_command(project, "{bind}")
    ceiling = [*template[:-1], "ceiling_app:app"]
    return {
        "template": template,
        "tutorial": ["gunicorn", f"{package}.app:app", "--bind", "{bind}"],
        "ceiling": ceiling,
    }


def wrk(url: str, duration: int) -> dict:
    output = run(
        [require_command("wrk"), "-t2", "-c32", f"-d{duration}s", "--latency", url], timeout=duration + 60
    ).stdout
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    return {
        "requests_per_second": float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1)),
        "p50_ms": _millis(re.search(r"50%\s+([\d.]+\w+)", output).group(1)),
        "p99_ms": _millis(re.search(r"99%\s+([\d.]+\w+)", output).group(1)),
        "non_2xx": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": sum(map(int, socket_errors.groups())) if socket_errors else 0,
    }


def _millis(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()
    return float(number) * {"us": 0.001, "ms": 1, "s": 1000}[unit]


def settled_count(client: redis.Redis, quiet_seconds: float = 0.5) -> int:
    """The counter once it stops moving: requests a finished wrk left queued at the server still count."""
    readings = [int(client.get("page_views") or 0)]

    def unchanged() -> bool:
        time.sleep(quiet_seconds)
        readings.append(int(client.get("page_views") or 0))
        return readings[-1] == readings[-2]

    wait_until(unchanged, timeout=60, what="the Redis counter to settle", interval=0)
    return readings[-1]


def exact_count(url: str, client: redis.Redis, requests: int = 5000) -> dict:
    """A count-bounded load whose every response is awaited, so the counter can be checked exactly."""
    before = settled_count(client)
    statuses = bounded_load(f"{url}/", requests, connections=32)
    after = settled_count(client)
    return {"requests": requests, "ok_responses": statuses[200], "counter_delta": after - before,
            "socket_errors": statuses["error"]}  # fmt: skip


def plot(results: dict, path: Path) -> None:
    import matplotlib  # pylint: disable=import-outside-toplevel

    matplotlib.use("Agg")
    from matplotlib import pyplot  # pylint: disable=import-outside-toplevel

    names = list(results)
    figure, axis = pyplot.subplots(figsize=(7, 4))
    bars = axis.bar(
        names, [results[name]["requests_per_second"] for name in names], color=["#2b6cb0", "#a0aec0", "#48bb78"]
    )
    for bar, name in zip(bars, names, strict=True):
        label = f"{results[name]['requests_per_second']:.0f} req/s\np99 {results[name]['p99_ms']:.1f} ms"
        axis.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom")
    axis.set_ylabel("requests per second (median)")
    axis.set_title("page-tracker throughput, wrk -t2 -c32")
    axis.margins(y=0.2)
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--duration", type=int, default=4, help="seconds of each wrk run")
    parser.add_argument("--rounds", type=int, default=9)
    options = parser.parse_args()

    with tempfile.TemporaryDirectory() as workdir, ExitStack() as stack:
        workdir = Path(workdir)
        project = bake_default(workdir / "bake")
        python = make_venv(project, workdir / "venv")
        (workdir / "ceiling_app.py").write_text(CEILING_APP, encoding="utf-8")
        redis_url = stack.enter_context(redis_server_process(workdir))
        client = redis.Redis.from_url(redis_url)
        env = {"REDIS_URL": redis_url, "PATH": str(python.parent), "PYTHONPATH": str(workdir)}
        urls = {}
        for name, command in setups(project, app_source(project).parent.name).items():
            port = free_port()
            args = [arg.replace("{bind}", f"127.0.0.1:{port}") for arg in command]
            urls[name] = stack.enter_context(serving([python.parent / args[0], *args[1:]], project / "web", env, port))
            wrk(urls[name], 2)  # warm-up
        rounds = {name: [] for name in urls}
        for _ in range(options.rounds):
            for name, url in urls.items():
                rounds[name].append(wrk(url, options.duration))
        results = {name: _median(rounds[name]) | {"exact": exact_count(url, client)} for name, url in urls.items()}

    # Ratios per round, then their median: each compares setups measured seconds apart.
    ratios = {
        name: {
            against: statistics.median(
                mine["requests_per_second"] / theirs["requests_per_second"]
                for mine, theirs in zip(rounds[name], rounds[against], strict=True)
            )
            for against in ("tutorial", "ceiling")
        }
        for name in results
    }
    rows = []
    for name, result in results.items():
        exact = result["exact"]
        rows.append([name, f"{result['requests_per_second']:.0f}", f"{result['p50_ms']:.2f}", f"{result['p99_ms']:.2f}",
                     result["non_2xx"], result["socket_errors"] + exact["socket_errors"],
                     f"{exact['counter_delta']}/{exact['ok_responses']}",
                     f"{ratios[name]['tutorial']:.2f}x", f"{ratios[name]['ceiling']:.0%}"])  # fmt: skip
    print_table(
        ["setup", "req/s", "p50 ms", "p99 ms", "non-2xx", "socket err", "counter/2xx", "vs tutorial", "of ceiling"],
        rows,
    )
    plot(results, BENCHMARKS / "throughput.png")
    save("throughput", {"duration_seconds": options.duration, "rounds": options.rounds, "setups": results,
                        "median_round_ratios": ratios, "rounds_measured": rounds})  # fmt: skip
    exact_everywhere = all(r["exact"]["counter_delta"] == r["exact"]["ok_responses"] for r in results.values())
    if not exact_everywhere:
        print("the Redis counter did not match the 2xx responses", file=sys.stderr)
    return 0 if exact_everywhere else 1


def _median(measured: list[dict]) -> dict:
    return {key: statistics.median(round_[key] for round_ in measured) for key in measured[0]}


if __name__ == "__main__":
    sys.exit(main())
