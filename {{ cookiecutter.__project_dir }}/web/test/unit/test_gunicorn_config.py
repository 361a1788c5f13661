import pytest

from {{ cookiecutter.__package_name }} import app, gunicorn_config


def test_should_drain_with_the_flag_the_health_check_reads():
    # Given: the file gunicorn_config.py creates on SIGTERM (the master cannot import
    # the app for it)
    written = gunicorn_config.DRAIN_FLAG

    # When: the file /health answers 503 for
    read = app.DRAIN_FLAG

    # Then
    assert written == read


@pytest.mark.parametrize(
    ("files", "quota"),
    [
        ({"cpu.max": "max 100000\n"}, None),
        ({"cpu.max": "150000 100000\n"}, 1.5),
        ({"cpu/cpu.cfs_quota_us": "-1\n", "cpu/cpu.cfs_period_us": "100000\n"}, None),
        ({"cpu/cpu.cfs_quota_us": "50000\n", "cpu/cpu.cfs_period_us": "100000\n"}, 0.5),
        ({}, None),
    ],
    ids=["v2-unlimited", "v2-one-and-a-half", "v1-unlimited", "v1-half", "no-cgroup"],
)
def test_should_read_the_cpu_quota_of_either_cgroup_version(
    tmp_path, monkeypatch, files, quota
):
    # Given: a cgroup folder as the container sees it
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(exist_ok=True)
        (tmp_path / name).write_text(text, encoding="utf-8")
    monkeypatch.setattr(gunicorn_config, "CGROUP", tmp_path)

    # When / Then
    assert gunicorn_config.cpu_quota() == quota


@pytest.mark.parametrize(
    ("quota", "workers"), [(None, 4), (0.5, 1), (1.5, 2), (8.0, 4)]
)
def test_should_run_a_worker_per_usable_cpu_within_the_quota(
    monkeypatch, quota, workers
):
    # Given: four CPUs in the process's affinity, and a quota
    monkeypatch.setattr(gunicorn_config.os, "sched_getaffinity", lambda _: {0, 1, 2, 3})
    monkeypatch.setattr(gunicorn_config, "cpu_quota", lambda: quota)

    # When / Then
    assert gunicorn_config.usable_cpus() == workers
