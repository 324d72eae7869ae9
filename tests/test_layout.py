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


def _rank_imports() -> dict[str, set[str]]:
    """digest.rank's modules → the package's modules each imports (anywhere in the file:
    at the top, inside functions, under TYPE_CHECKING); the package's __init__ left out."""
    package = REPO / "digest" / "rank"
    names = {p.stem for p in package.glob("*.py")} - {"__init__"}
    graph: dict[str, set[str]] = {}
    for name in names:
        found: set[str] = set()
        for node in ast.walk(ast.parse((package / f"{name}.py").read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.module == "digest.rank":
                found |= {alias.name for alias in node.names} & names
            elif isinstance(node, ast.ImportFrom) and node.module:
                found |= {node.module.removeprefix("digest.rank.")} & names
            elif isinstance(node, ast.Import):
                found |= {a.name.removeprefix("digest.rank.") for a in node.names} & names
        graph[name] = found
    return graph


def test_the_rank_package_imports_in_one_direction() -> None:
    """records, then the corpus, then signals, eligibility and explanation, then the ranker:
    no cycle, not even under TYPE_CHECKING (signals, eligibility and explain imported the
    ranker), and nothing imports the ranker but the package itself."""
    import graphlib

    graph = _rank_imports()
    order = list(graphlib.TopologicalSorter(graph).static_order())  # CycleError on a cycle
    assert not graph["records"], "records import nothing of the package"
    assert not [name for name, uses in graph.items() if "ranker" in uses]
    assert order.index("corpus") < order.index("signals") < order.index("eligibility")
    assert order.index("eligibility") < order.index("explain") < order.index("ranker")
