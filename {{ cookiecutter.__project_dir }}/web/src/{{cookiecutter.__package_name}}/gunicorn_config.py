"""Gunicorn settings for the container, sized from the CPUs it may use.

Environment variables override them: WEB_CONCURRENCY (worker processes),
GUNICORN_WORKER_CLASS, GUNICORN_THREADS (threads per worker), GUNICORN_KEEPALIVE
(seconds an idle connection stays open) and GUNICORN_PRELOAD_APP.
GUNICORN_CMD_ARGS takes any other setting. GUNICORN_DRAIN_SECONDS (default 0) makes
a stopping server fail its health check for that long, still serving, before it stops.
"""

import importlib
import os
import time
from pathlib import Path

workers = int(os.getenv("WEB_CONCURRENCY", str(len(os.sched_getaffinity(0)))))
worker_class = os.getenv("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.getenv("GUNICORN_THREADS", "2"))
keepalive = int(os.getenv("GUNICORN_KEEPALIVE", "5"))
# Load the app once, before forking: a bad setting then stops the server with one
# message instead of workers failing and being restarted over and over.
preload_app = os.getenv("GUNICORN_PRELOAD_APP", "true").lower() != "false"

# While this file exists, /health answers 503: a health-checking proxy (the HAProxy
# of deploy/compose.stack.yml) stops sending new requests before the server closes
# its socket. In /dev/shm, as the workers' heartbeat files: the one folder every
# container can write.
DRAIN_FLAG = Path("/dev/shm/gunicorn-draining")  # nosec B108: a flag, no data
drain_seconds = float(os.getenv("GUNICORN_DRAIN_SECONDS", "0"))


def on_starting(server):
    """On SIGTERM (a stop, an update): drain first, then the graceful shutdown."""
    DRAIN_FLAG.unlink(missing_ok=True)
    if drain_seconds <= 0:
        return
    shut_down = server.handle_term

    def drain_then_shut_down():
        DRAIN_FLAG.touch()
        server.log.info("Draining for %s s before shutting down", drain_seconds)
        time.sleep(drain_seconds)
        shut_down()

    server.handle_term = drain_then_shut_down


def post_worker_init(worker):
    """Each worker opens its Redis connections, one per thread, before it serves."""
    app_module = importlib.import_module(worker.wsgi.import_name)
    app_module.open_connections(worker.cfg.threads)
