import pytest

from {{ cookiecutter.__package_name }}.app import open_connections, redis


@pytest.mark.timeout(1.5)
def test_should_update_redis(redis_client, http_client):
    # Given
    redis_client.set("page_views", 4)

    # When
    response = http_client.get("/")

    # Then
    assert response.status_code == 200
    assert response.text == "This page has been seen 5 times."
    assert redis_client.get("page_views") == b"5"


@pytest.mark.timeout(1.5)
def test_should_leave_the_counter_alone_on_health_check(redis_client, http_client):
    # Given
    redis_client.set("page_views", 4)

    # When
    response = http_client.get("/health")

    # Then
    assert response.status_code == 200
    assert redis_client.get("page_views") == b"4"


@pytest.mark.timeout(1.5)
def test_should_open_a_connection_per_thread_before_serving(redis_client):
    # Given
    open_connections(3)
    clients_before = len(redis_client.client_list())

    # When: three threads take a connection at once
    pool = redis().connection_pool
    connections = [pool.get_connection() for _ in range(3)]
    for connection in connections:
        pool.release(connection)

    # Then: all three were open already
    assert len(redis_client.client_list()) == clients_before
