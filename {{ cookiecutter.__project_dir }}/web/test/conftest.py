import pytest
import redis

from {{ cookiecutter.__package_name }}.app import REDIS_PASSWORD, app


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
    # The app's password: from REDIS_PASSWORD_FILE (the Compose secret), if set.
    if redis_url:
        return redis.Redis.from_url(redis_url, password=REDIS_PASSWORD)
    return redis.Redis(password=REDIS_PASSWORD)
