import os
from functools import cache

from flask import Flask
from redis import Redis, RedisError

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
    return Redis.from_url(os.getenv("REDIS_URL", "redis://localhost:6379"))
