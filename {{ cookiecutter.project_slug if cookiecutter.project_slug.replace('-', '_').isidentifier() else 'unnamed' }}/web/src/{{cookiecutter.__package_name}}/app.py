import os
from functools import cache

from flask import Flask
from redis import Redis, RedisError
from redis.connection import parse_url

REDIS_URL = os.getenv("REDIS_URL", "redis://localhost:6379")
try:
    parse_url(REDIS_URL)
except ValueError as error:
    # One clear line at start-up instead of a traceback on every request; never echo
    # the URL, which may hold a password.
    raise SystemExit(f"REDIS_URL is not a valid Redis URL: {error}") from None

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
    try:
        redis().ping()
    except RedisError as error:
        app.logger.warning("Health check failed: %s", error)
        return "Redis is unavailable", 503
    return "OK"


@cache
def redis():
    # Time-outs turn a Redis outage into prompt 500s and 503s instead of hung workers.
    return Redis.from_url(REDIS_URL, socket_connect_timeout=2, socket_timeout=2)
