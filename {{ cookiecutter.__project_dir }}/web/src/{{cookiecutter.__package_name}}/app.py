import os
from functools import cache
from pathlib import Path

from flask import Flask
from redis import Redis, RedisError
from redis.connection import parse_url

# While this file exists, /health answers 503: gunicorn_config.py creates it on SIGTERM
# so that a health-checking proxy stops sending requests before the server stops.
DRAIN_FLAG = Path("/dev/shm/gunicorn-draining")  # nosec B108: a flag, no data

REDIS_URL = os.getenv("REDIS_URL", "redis://localhost:6379")
try:
    parse_url(REDIS_URL)
except ValueError as error:
    # One clear line at start-up instead of a traceback on every request; never echo
    # the URL, which may hold a password.
    raise SystemExit(f"REDIS_URL is not a valid Redis URL: {error}") from None


def read_password(path: str | None) -> str | None:
    """The Redis password from a file (a Compose or Swarm secret), as the official
    images take theirs: then it is in no environment listing or `docker inspect`."""
    if not path:
        return None
    try:
        with open(path, encoding="utf-8") as file:
            password = file.read().strip()
    except OSError as error:
        message = f"REDIS_PASSWORD_FILE cannot be read: {error.strerror}: {path}"
        raise SystemExit(message) from None
    if not password:
        raise SystemExit(f"REDIS_PASSWORD_FILE is empty: {path}")
    return password


REDIS_PASSWORD = read_password(os.getenv("REDIS_PASSWORD_FILE"))

app = Flask(__name__)


@app.get("/")
def index():
    try:
        page_views = redis().incr("page_views")
    except RedisError:
        app.logger.exception("Redis error")
        return "Sorry, something went wrong \N{PENSIVE FACE}", 500
    else:
        return f"This page has been seen {page_views} times."


@app.get("/health")
def health():
    # A health check must not count as a page view: it only pings Redis.
    if DRAIN_FLAG.exists():
        return "Draining before shutdown", 503
    try:
        redis().ping()
    except RedisError as error:
        app.logger.warning("Health check failed: %s", error)
        return "Redis is unavailable", 503
    return "OK"


def open_connections(count: int) -> None:
    """Opens `count` pooled connections to Redis before the first request (gunicorn's
    post_worker_init: one per thread). Serving then needs no name lookup, which fails
    while a Swarm node that is shutting down has dropped its service names but still
    runs its tasks. Redis being down only means connecting later, as before."""
    pool = redis().connection_pool
    connections = []
    try:
        for _ in range(count):
            connections.append(pool.get_connection())
    except RedisError as error:
        app.logger.warning("Redis connections not opened before serving: %s", error)
    finally:
        for connection in connections:
            pool.release(connection)


@cache
def redis():
    # Time-outs turn a Redis outage into prompt 500s and 503s instead of hung workers.
    # A password inside REDIS_URL wins over the file's.
    return Redis.from_url(
        REDIS_URL, password=REDIS_PASSWORD, socket_connect_timeout=2, socket_timeout=2
    )
