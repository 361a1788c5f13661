from {{ cookiecutter.__package_name }} import app, gunicorn_config


def test_should_drain_with_the_flag_the_health_check_reads():
    # Given: the file gunicorn_config.py creates on SIGTERM (the master cannot import
    # the app for it)
    written = gunicorn_config.DRAIN_FLAG

    # When: the file /health answers 503 for
    read = app.DRAIN_FLAG

    # Then
    assert written == read
