"""The README's two set-up commands and `.ci/run` stay in sync (CI runs the README's test
command)."""

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def readme_setup_commands():
    readme = ROOT / "README.md"
    if not readme.exists():
        pytest.skip("not running from a source checkout")
    block = re.search(r"```bash\n(.*?)```", readme.read_text(), re.S)
    assert block, "README.md must start with a bash block holding the two set-up commands"
    return [line for line in block.group(1).splitlines() if line.strip()]


def test_readme_starts_with_exactly_two_setup_commands():
    commands = readme_setup_commands()
    assert len(commands) == 2, commands
    assert commands[0].startswith("pip install . &&"), commands[0]
    assert commands[1].startswith('pip install ".[test]" &&'), commands[1]


def test_ci_runs_the_readme_test_command_verbatim():
    test_command = readme_setup_commands()[1]
    ci_lines = [ln.strip() for ln in (ROOT / ".ci" / "run").read_text().splitlines()]
    assert test_command in ci_lines, f"{test_command!r} not found in .ci/run"
