"""digest eval's arXiv topics (KEYWORD_TOPICS), read from digest/evaluate.py's source so the
research scripts run without digest's dependencies installed."""

from __future__ import annotations

import ast
from pathlib import Path

_SOURCE = Path(__file__).resolve().parent.parent / "digest" / "evaluate.py"


def keyword_topics() -> dict[str, tuple[str, ...]]:
    tree = ast.parse(_SOURCE.read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.AnnAssign) and getattr(node.target, "id", "") == "KEYWORD_TOPICS":
            assert node.value is not None
            return {k: tuple(v) for k, v in ast.literal_eval(node.value).items()}
    raise LookupError("KEYWORD_TOPICS not found in digest/evaluate.py")
