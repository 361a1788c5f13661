"""Gunicorn settings for the container, sized from the CPUs it may use: its CPU
affinity, capped by its cgroup's CPU quota (docker run --cpus, a stack's cpus).

Environment variables override them: WEB_CONCURRENCY (worker processes),
GUNICORN_WORKER_CLASS, GUNICORN_THREADS (threads per worker), GUNICORN_KEEPALIVE
(seconds an idle connection stays open) and GUNICORN_PRELOAD_APP.
GUNICORN_CMD_ARGS takes any other setting. GUNICORN_DRAIN_SECONDS (default 0) makes
a stopping server fail its health check for that long, still serving, before it stops.
"""

import math
import os
import time
from pathlib import Path

CGROUP = Path("/sys/fs/cgroup")


def cpu_quota() -> float | None:
    """The CPUs the cgroup's quota allows, None without one: cgroup v2's cpu.max
    ("max 100000" or "150000 100000"), else cgroup v1's CFS quota and period."""
    try:
        quota, period = (CGROUP / "cpu.max").read_text(encoding="utf-8").split()
    except OSError:
        try:
            quota = (CGROUP / "cpu" / "cpu.cfs_quota_us").read_text(encoding="utf-8")
            period = (CGROUP / "cpu" / "cpu.cfs_period_us").read_text(encoding="utf-8")
        except OSError:
            return None
    if quota.strip() in ("max", "-1"):
        return None
    return int(quota) / int(period)


def usable_cpus() -> int:
    """The CPUs this process may run on, no more than its quota (rounded up): a
    worker per CPU of the node would exceed the container's memory on a big node."""
    cpus = len(os.sched_getaffinity(0))
    quota = cpu_quota()
    return cpus if quota is None else max(1, min(cpus, math.ceil(quota)))


workers = int(os.getenv("WEB_CONCURRENCY", str(usable_cpus())))
worker_class = os.getenv("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.getenv("GUNICORN_THREADS", "2"))
keepalive = int(os.getenv("GUNICORN_KEEPALIVE", "5"))
# Load the app once, before forking: a bad setting then stops the server with one
# message instead of workers failing and being restarted over and over.
preload_app = os.getenv("GUNICORN_PRELOAD_APP", "true").lower() != "false"

# The file whose presence makes /health answer 503: app.py's DRAIN_FLAG, named again
# here because the master must not import the app (--reload and a preload_app of
# false rely on the workers loading it). In /dev/shm, as the workers' heartbeat
# files: the one folder every container can write.
DRAIN_FLAG = Path("/dev/shm/gunicorn-draining")  # nosec B108: a flag, no data
drain_seconds = float(os.getenv("GUNICORN_DRAIN_SECONDS", "0"))


def drain_then_shut_down(server):
    """Fails /health for drain_seconds, still serving, then shuts down gracefully: a
    health-checking proxy (the HAProxy of deploy/compose.stack.yml) has stopped
    sending requests by the time the listening socket closes."""
    DRAIN_FLAG.touch()
    server.log.info("Draining for %s s before shutting down", drain_seconds)
    time.sleep(drain_seconds)
    type(server).handle_term(server)


def on_starting(server):
    """On SIGTERM (a stop, an update), drain first when GUNICORN_DRAIN_SECONDS is set.

    gunicorn closes its listening socket as soon as SIGTERM arrives and has no hook
    before that (benoitc/gunicorn#2911), so its SIGTERM handler is the one place to
    drain: the master's handler is replaced by drain_then_shut_down.
    """
    DRAIN_FLAG.unlink(missing_ok=True)
    if drain_seconds > 0:
        server.handle_term = lambda: drain_then_shut_down(server)


def post_worker_init(worker):
    """Each worker opens its Redis connections, one per thread, before it serves."""
    # Imported here, in the worker, which has loaded the app by now (see DRAIN_FLAG).
    # pylint: disable-next=import-outside-toplevel
    from {{ cookiecutter.__package_name }}.app import open_connections

    open_connections(worker.cfg.threads)
