"""Gunicorn settings for the container, sized from the CPUs it may use.

Environment variables override them: WEB_CONCURRENCY (worker processes),
GUNICORN_WORKER_CLASS, GUNICORN_THREADS (threads per worker), GUNICORN_KEEPALIVE
(seconds an idle connection stays open) and GUNICORN_PRELOAD_APP.
GUNICORN_CMD_ARGS takes any other setting.
"""

import os

workers = int(os.getenv("WEB_CONCURRENCY", str(len(os.sched_getaffinity(0)))))
worker_class = os.getenv("GUNICORN_WORKER_CLASS", "gthread")
threads = int(os.getenv("GUNICORN_THREADS", "2"))
keepalive = int(os.getenv("GUNICORN_KEEPALIVE", "5"))
# Load the app once, before forking: a bad setting then stops the server with one
# message instead of workers failing and being restarted over and over.
preload_app = os.getenv("GUNICORN_PRELOAD_APP", "true").lower() != "false"
