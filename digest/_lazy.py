"""Package names loaded on first use (PEP 562): a package lists where each name lives, and
importing the package imports none of them."""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from typing import Any


def loader(package: str, api: Mapping[str, str]) -> Callable[[str], Any]:
    """The package's `__getattr__`: `api` maps each name to the module that defines it; a
    name is imported when first asked for, then kept in the package."""
    import sys

    def load(name: str) -> Any:
        module = api.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)
        return value

    return load
