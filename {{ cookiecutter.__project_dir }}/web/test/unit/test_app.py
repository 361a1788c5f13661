import unittest.mock

from redis import ConnectionError as RedisConnectionError

from {{ cookiecutter.__package_name }}.app import open_connections


@unittest.mock.patch("{{ cookiecutter.__package_name }}.app.redis")
def test_should_call_redis_incr(mock_redis, http_client):
    # Given
    mock_redis.return_value.incr.return_value = 5

    # When
    response = http_client.get("/")

    # Then
    assert response.status_code == 200
    assert response.text == "This page has been seen 5 times."
    mock_redis.return_value.incr.assert_called_once_with("page_views")


@unittest.mock.patch("{{ cookiecutter.__package_name }}.app.redis")
def test_should_handle_redis_connection_error(mock_redis, http_client):
    # Given
    mock_redis.return_value.incr.side_effect = RedisConnectionError

    # When
    response = http_client.get("/")

    # Then
    assert response.status_code == 500
    assert response.text == "Sorry, something went wrong \N{PENSIVE FACE}"


@unittest.mock.patch("{{ cookiecutter.__package_name }}.app.redis")
def test_should_report_healthy_without_counting_a_view(mock_redis, http_client):
    # Given
    mock_redis.return_value.ping.return_value = True

    # When
    response = http_client.get("/health")

    # Then
    assert response.status_code == 200
    assert response.text == "OK"
    mock_redis.return_value.incr.assert_not_called()


@unittest.mock.patch("{{ cookiecutter.__package_name }}.app.redis")
def test_should_report_unavailable_when_redis_is_down(mock_redis, http_client):
    # Given
    mock_redis.return_value.ping.side_effect = RedisConnectionError

    # When
    response = http_client.get("/health")

    # Then
    assert response.status_code == 503
    assert response.text == "Redis is unavailable"


def test_should_fail_health_check_while_draining(http_client, tmp_path, monkeypatch):
    # Given: the server received SIGTERM and drains (gunicorn_config.py)
    flag = tmp_path / "draining"
    flag.touch()
    monkeypatch.setattr("{{ cookiecutter.__package_name }}.app.DRAIN_FLAG", flag)

    # When
    response = http_client.get("/health")

    # Then
    assert response.status_code == 503
    assert response.text == "Draining before shutdown"


@unittest.mock.patch("{{ cookiecutter.__package_name }}.app.redis")
def test_should_serve_anyway_when_connections_cannot_be_opened_early(mock_redis):
    # Given: Redis answers one connection, then is gone
    pool = mock_redis.return_value.connection_pool
    opened = unittest.mock.Mock()
    pool.get_connection.side_effect = [opened, RedisConnectionError]

    # When
    open_connections(2)

    # Then: no error, and the opened connection is back in the pool
    pool.release.assert_called_once_with(opened)
