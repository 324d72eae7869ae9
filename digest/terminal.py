"""What the `digest` command prints tables and messages with (rich), made on first use: a
command that prints no table never imports rich."""

from __future__ import annotations

import functools
import os
import sys
from typing import Any

from rich.console import Console
from rich.table import Table

from digest.safe_text import terminal_safe


class _Console(Console):
    """A console that shows stored text (titles, names, addresses, relay replies) as text:
    control characters and direction overrides never reach the terminal."""

    def print(self, *objects: Any, **options: Any) -> None:
        super().print(*(terminal_safe(o) if isinstance(o, str) else o for o in objects), **options)


class SafeTable(Table):
    """A table that never cuts a cell short: long values (file names, addresses, titles) fold
    onto more lines instead of ending in "…"."""

    def __init__(self, *headers: str, **options: Any) -> None:
        super().__init__(**options)
        for header in headers:
            self.add_column(header, overflow="fold")

    def add_row(self, *cells: Any, **options: Any) -> None:
        super().add_row(*(terminal_safe(c) if isinstance(c, str) else c for c in cells), **options)


def width_for(stream: Any) -> int | None:
    """A terminal's own width; a pipe or a CI log gets lines as long as their content (rich
    would otherwise wrap everything at 80 columns)."""
    return None if stream.isatty() or os.environ.get("COLUMNS") else 10_000


# markup=False: titles from dumps may hold "[...]", which rich would read as (broken) markup.
@functools.cache
def stdout() -> Console:
    return _Console(highlight=False, markup=False, width=width_for(sys.stdout))


@functools.cache
def stderr() -> Console:
    return _Console(stderr=True, highlight=False, markup=False, width=width_for(sys.stderr))
