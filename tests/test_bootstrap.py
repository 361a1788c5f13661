"""scripts/bootstrap.sh, sourced: its functions under the same `set -euo pipefail` it runs with."""

import json
import shutil
import subprocess

import pytest

from testkit.harness import REPO_ROOT

BOOTSTRAP = REPO_ROOT / "scripts" / "bootstrap.sh"


def bootstrap_env(cache_dir, **more):
    return {"PATH": "/usr/bin:/bin", "HOME": str(cache_dir), "TRACKER_CI_CACHE": str(cache_dir), **more}


def bootstrap_function(call, cache_dir, **env):
    """Runs one bootstrap function in a shell that sourced the script with its cache in cache_dir."""
    return subprocess.run(
        ["bash", "-c", f'source "$1"; {call}; echo "exit=$?"', "test_bootstrap", str(BOOTSTRAP)],
        env=bootstrap_env(cache_dir, **env),
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.fixture
def process_named_dockerd(tmp_path):
    """A real process whose command name is dockerd (a copy of sleep), ended by its own PID afterwards."""
    binary = tmp_path / "dockerd"
    shutil.copy("/bin/sleep", binary)
    process = subprocess.Popen([str(binary), "60"])
    yield process.pid
    process.kill()
    process.wait()


@pytest.mark.parametrize(
    "pid_file_content",
    [None, "999999999", "1"],
    ids=["no-pid-file", "pid-of-a-stopped-engine", "pid-of-another-program"],
)
def test_should_find_no_own_engine_and_go_on_when_the_pid_file_is_missing_or_stale(tmp_path, pid_file_content):
    # Given: a cache kept from another machine or boot, where the recorded engine no longer runs
    if pid_file_content is not None:
        (tmp_path / "dockerd.pid").write_text(pid_file_content)

    # When
    result = bootstrap_function("pid=$(own_dockerd_pid); printf 'pid=%s\\n' \"$pid\"", tmp_path)

    # Then: an empty PID, and the script (under set -e) carries on
    assert result.stdout.splitlines() == ["pid=", "exit=0"], result.stderr


def test_should_find_its_own_engine_while_it_runs(tmp_path, process_named_dockerd):
    # Given
    (tmp_path / "dockerd.pid").write_text(str(process_named_dockerd))

    # When
    result = bootstrap_function("own_dockerd_pid", tmp_path)

    # Then
    assert result.stdout.splitlines() == [str(process_named_dockerd), "exit=0"], result.stderr


@pytest.mark.parametrize("store", ["containerd", "classic"])
def test_should_say_each_image_store_in_the_engine_configuration(tmp_path, store):
    # When
    config = tmp_path / "daemon.json"
    result = bootstrap_function(f'write_daemon_config {store} "{config}" && cat "{config}"', tmp_path)

    # Then: the store is said either way, so it does not depend on the engine's version (Docker 29 turns it on)
    config, status = result.stdout.rsplit("\n", 2)[:2]
    assert status == "exit=0", result.stderr
    assert json.loads(config) == {"features": {"containerd-snapshotter": store == "containerd"}}


def test_should_refuse_an_unknown_image_store_before_installing_anything(tmp_path):
    # When
    result = subprocess.run(
        ["bash", str(BOOTSTRAP)],
        env=bootstrap_env(tmp_path, TRACKER_CI_IMAGE_STORE="zfs"),
        capture_output=True,
        text=True,
        check=False,
    )

    # Then: a clear error, and nothing written to its cache
    assert result.returncode == 2
    assert "TRACKER_CI_IMAGE_STORE is 'zfs': it must be containerd or classic" in result.stdout + result.stderr
    assert [path.name for path in tmp_path.iterdir()] == []
