"""Small helpers for running real processes in tests: free ports, polling, commands with readable failures."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
NODE_BIN = REPO_ROOT / "tools" / "node_modules" / ".bin"
IN_CI = os.environ.get("CI", "").lower() == "true"


def require(condition: bool, reason: str) -> None:
    """Skips a test whose real part is missing; in CI a missing part is a failure, never a skip."""
    if condition:
        return
    if IN_CI:
        pytest.fail(f"CI=true and {reason}", pytrace=False)
    pytest.skip(reason)


def require_command(name: str) -> str:
    path = shutil.which(name, path=os.pathsep.join([str(VENV_BIN), str(NODE_BIN), os.environ.get("PATH", "")]))
    require(path is not None, f"`{name}` is not installed (run scripts/bootstrap.sh)")
    return path


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_until(predicate, timeout: float, what: str, interval: float = 0.1):
    """Polls predicate until it returns a truthy value; fails naming `what` after timeout seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = predicate()
        if result:
            return result
        if time.monotonic() > deadline:
            raise TimeoutError(f"gave up after {timeout} s waiting for {what}")
        time.sleep(interval)


def run(args, *, check=True, timeout=600, **kwargs) -> subprocess.CompletedProcess:
    """Runs a command capturing text output; a failure shows the command, its exit code and its output."""
    result = subprocess.run(
        [str(arg) for arg in args], capture_output=True, text=True, timeout=timeout, check=False, **kwargs
    )
    if check and result.returncode != 0:
        raise AssertionError(
            f"{' '.join(map(str, args))} exited {result.returncode}\n"
            f"--- stdout ---\n{result.stdout[-6000:]}\n--- stderr ---\n{result.stderr[-6000:]}"
        )
    return result


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((host, port)) == 0


def stop_process(process: subprocess.Popen) -> None:
    """Ends a process this suite started (by its own handle), killing it if it will not stop."""
    process.terminate()
    try:
        process.wait(timeout=10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def markdown_table(text: str, heading: str) -> list[list[str]]:
    """The body rows of the first table under a Markdown heading, cells stripped, `\\|` unescaped."""
    section = text.split(f"{heading}\n", 1)[1].split("\n#", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("|")][2:]
    return [[cell.strip().replace("\\|", "|") for cell in re.split(r"(?<!\\)\|", row.strip().strip("|"))] for row in rows]
