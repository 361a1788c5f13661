import pytest
import redis

from {{ cookiecutter.__package_name }}.app import REDIS_PASSWORD, REDIS_URL, app


def pytest_addoption(parser):
    parser.addoption("--flask-url")
    parser.addoption("--redis-url")


@pytest.fixture(scope="session")
def flask_url(request):
    return request.config.getoption("--flask-url")


@pytest.fixture(scope="session")
def redis_url(request):
    return request.config.getoption("--redis-url")


@pytest.fixture
def http_client():
    return app.test_client()


@pytest.fixture(scope="module")
def redis_client(redis_url):
    # The app's Redis and login (REDIS_URL, and REDIS_PASSWORD_FILE: the Compose secret)
    # unless --redis-url names another server: so the tests reach the dev container's
    # Redis as the app does, without options.
    return redis.Redis.from_url(redis_url or REDIS_URL, password=REDIS_PASSWORD)
