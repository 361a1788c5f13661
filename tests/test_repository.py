"""This repository's own code meets the bar it sets for generated projects."""

from testkit.harness import REPO_ROOT, require_command, run

OWN_PYTHON = ["tests", "testkit", "hooks", "benchmarks"]
OWN_SHELL = [".ci/run", *sorted(str(path.relative_to(REPO_ROOT)) for path in (REPO_ROOT / "scripts").glob("*.sh"))]


def test_should_keep_our_python_lint_clean_and_formatted():
    run([require_command("ruff"), "check", *OWN_PYTHON], cwd=REPO_ROOT)
    run([require_command("ruff"), "format", "--check", *OWN_PYTHON], cwd=REPO_ROOT)


def test_should_keep_our_shell_scripts_shellcheck_clean():
    run([require_command("shellcheck"), "--external-sources", *OWN_SHELL], cwd=REPO_ROOT)


def test_should_name_no_package_registry_host():
    # Given: hosts of the registries the machines reach; the repository must reach them by name only
    hosts = ["pypi" + ".org", "files.python" + "hosted.org", "deb.debian" + ".org", "registry.npm" + "js.org"]

    # When
    tracked = run(["git", "ls-files"], cwd=REPO_ROOT).stdout.split()
    named = [
        (path, host)
        for path in tracked
        if (REPO_ROOT / path).is_file()
        for host in hosts
        if host in (REPO_ROOT / path).read_text(encoding="utf-8", errors="ignore")
    ]

    # Then
    assert named == []
