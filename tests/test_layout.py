"""The layout's rules, checked: the shells (the CLI, the daemon, the web app) reach the
pipeline through the editions service, and `digest --help` does not import it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import run_python

REPO = Path(__file__).resolve().parent.parent
SHELLS = ["digest/cli.py", "digest/schedule.py", *(f"digest/web/{p.name}" for p in
          sorted((REPO / "digest" / "web").glob("*.py")))]  # fmt: skip
# What a shell may import: the service, the records and errors it speaks in, its settings and
# the reader schema, leaf helpers (the clock, terminal-safe text, bounded JSON and file
# reading, the terminal), the other shells, and the programs the CLI only starts (the demo,
# the evaluations).
DOOR = (
    "digest.editions",
    "digest.settings",
    "digest.errors",
    "digest.models",
    "digest.profile",
    "digest.clock",
    "digest.safe_text",
    "digest.safe_json",
    "digest.safe_files",
    "digest.terminal",
    "digest.web",
    "digest.schedule",
    "digest.demo",
    "digest.evaluate",
    "digest.evaluate_library",
    "digest.panel",
)


def _below_the_door(shell: str) -> set[tuple[str, str]]:
    found = set()
    for node in ast.walk(ast.parse((REPO / shell).read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            modules = [node.module]
        elif isinstance(node, ast.Import):
            modules = [alias.name for alias in node.names]
        else:
            continue
        for module in modules:
            inside = module == "digest" or module.startswith("digest.")
            allowed = any(module == door or module.startswith(door + ".") for door in DOOR)
            if inside and not allowed:
                found.add((shell, ".".join(module.split(".")[:2])))
    return found


def test_the_shells_reach_the_pipeline_only_through_the_editions_service() -> None:
    found = set().union(*(_below_the_door(shell) for shell in SHELLS))
    assert not found, "imports below the editions service; go through it"


@pytest.mark.integration
def test_help_imports_neither_the_pipeline_nor_its_libraries() -> None:
    """`digest --help` answers without importing the pipeline (numpy, premailer, mjml,
    pydantic): what made it take 0.7 s."""
    code = (
        "import sys; from click.testing import CliRunner; from digest.cli import cli;"
        "CliRunner().invoke(cli, ['--help']);"
        "print(' '.join(sorted(m for m in sys.modules if m.split('.')[0] in"
        " ('numpy', 'premailer', 'mjml', 'pydantic', 'rich', 'sqlite_utils', 'digest'))))"
    )
    done = run_python(code)
    loaded = set(done.stdout.split())
    assert not {m for m in loaded if not m.startswith("digest")}, loaded
    heavy = ("digest.editions.", "digest.rank", "digest.render", "digest.store", "digest.deliver",
             "digest.settings")  # fmt: skip
    assert not {m for m in loaded if m.startswith(heavy)}, loaded
