"""This repository's own code meets the bar it sets for generated projects."""

import re

import yaml

from testkit.harness import REPO_ROOT, require_command, run
from testkit.template import COOKIECUTTER_JSON
from testkit.tiers import EMULATED_WORKER, SHARED_FIXTURE_UNITS, selected, tiers

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


def _table_blocks(text: str) -> list[list[str]]:
    """Runs of consecutive lines that start with `|`, outside code fences."""
    blocks, current, fenced = [], [], False
    for line in text.splitlines():
        fenced ^= line.startswith("```")
        if line.startswith("|") and not fenced:
            current.append(line)
        elif current:
            blocks.append(current)
            current = []
    return blocks + ([current] if current else [])


def _cells(row: str) -> int:
    return len(re.split(r"(?<!\\)\|", row.strip().strip("|")))


def test_should_render_every_table_row_of_our_markdown_in_a_table():
    # Given
    documents = run(["git", "ls-files", "-z", "*.md"], cwd=REPO_ROOT).stdout.strip("\0").split("\0")

    # When: every run of table rows, and what keeps it from rendering as a table
    broken = [
        (path, block[0][:60])
        for path in documents
        for block in _table_blocks((REPO_ROOT / path).read_text(encoding="utf-8"))
        if len(block) < 3
        or not re.fullmatch(r"\|( *:?-+:? *\|)+", block[1])
        or {_cells(row) for row in block} != {_cells(block[0])}
    ]

    # Then: a header, its separator and rows of as many cells, with nothing between them
    assert broken == []


def test_should_name_only_collected_tests_for_the_emulated_worker():
    # Given: every test of the engine and act tiers, by node ID
    collected = selected(f"({tiers()['engine']}) or ({tiers()['act']})")

    # Then: each name the side-by-side pass puts on the emulated worker is one of them (a renamed test would silently
    # build arm64 beside the other emulated test, each from a cold cache)
    assert [name for name in EMULATED_WORKER if not any(test.startswith(name) for test in collected)] == []


def test_should_schedule_every_module_of_an_installed_project_as_one_unit():
    # Given: the modules of the engine and act tiers whose tests take the session's installed projects
    collected = selected(f"({tiers()['engine']}) or ({tiers()['act']})")
    modules = {test.split("::", 1)[0] for test in collected}
    users = {module for module in modules if "installed_project" in (REPO_ROOT / module).read_text(encoding="utf-8")}

    # Then: the side-by-side pass gives them to one worker together, which installs each project once
    assert users and {SHARED_FIXTURE_UNITS.get(module) for module in users} == {"installed projects"}


def test_should_lock_generated_projects_with_the_uv_their_dockerfile_installs_with():
    # Given: the uv the suite puts on the PATH, with which the hook locks each baked project (requirements-dev.txt,
    # Dependabot's to bump), and the uv image every generated Dockerfile copies uv from (cookiecutter.json)
    pins = (REPO_ROOT / "requirements-dev.txt").read_text(encoding="utf-8")

    # When
    suites = re.search(r"^uv==(\S+)$", pins, flags=re.MULTILINE).group(1)

    # Then: one version, so a bump of either fails here until the other follows
    assert suites == COOKIECUTTER_JSON["__uv_version"]


def test_should_show_dependabot_every_file_that_pins_our_tools():
    # Given: the files that pin what the suite and our workflows run, by the Dependabot ecosystem that reads each
    pin_files = {
        "requirements-dev.txt": "pip",
        "tools/package.json": "npm",
        **{
            str(path.relative_to(REPO_ROOT)): "github-actions"
            for path in sorted((REPO_ROOT / ".github" / "workflows").glob("*.yml"))
        },
    }
    config = yaml.safe_load((REPO_ROOT / ".github" / "dependabot.yml").read_text(encoding="utf-8"))

    # When: the folders each ecosystem reads (github-actions reads .github/workflows under its directory)
    folders = {(update["package-ecosystem"], update["directory"].strip("/")) for update in config["updates"]}
    unwatched = [
        path
        for path, ecosystem in pin_files.items()
        if (ecosystem, "" if ecosystem == "github-actions" else path.rpartition("/")[0]) not in folders
    ]

    # Then
    assert unwatched == []


def test_should_run_our_ci_every_week_on_what_new_users_get():
    # Given
    workflow = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))

    # When: the triggers (YAML 1.1 reads the key `on` as True)
    schedules = [entry["cron"] for entry in workflow[True].get("schedule", [])]

    # Then: once a week (a day of the week, every week), and never cancelled by a newer run but on pull requests
    assert len(schedules) == 1 and re.fullmatch(r"\d+ \d+ \* \* [0-6]", schedules[0]), schedules
    assert workflow["concurrency"]["cancel-in-progress"] == "${{ github.event_name == 'pull_request' }}"


def test_should_run_every_test_in_exactly_one_tier():
    # Given
    every_test = selected()

    # When
    chosen = [test for expression in tiers().values() for test in selected(expression)]

    # Then: the tiers (GitHub's CI runs a job each) are the whole suite, no test twice
    assert sorted(chosen) == sorted(every_test), sorted(set(every_test) ^ set(chosen))


def test_should_give_every_tier_and_the_classic_store_a_job_of_our_ci():
    # Given
    workflow = yaml.safe_load((REPO_ROOT / ".github" / "workflows" / "ci.yml").read_text(encoding="utf-8"))

    # When: what each job runs (the fast job its own target, the others a matrix of make targets)
    fast = [step["run"] for step in workflow["jobs"]["fast"]["steps"] if "run" in step]
    matrix = workflow["jobs"]["tier"]["strategy"]["matrix"]["include"]

    # Then
    assert fast == ["make test-fast"]
    assert sorted(job["tier"] for job in matrix if job["target"] == "tier") == sorted(set(tiers()) - {"fast"})
    assert [job["target"] for job in matrix if job["target"] != "tier"] == ["test-classic-store"]
    assert all(isinstance(job["timeout"], int) for job in matrix)
