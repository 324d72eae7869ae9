"""One exception tree: every exception class digest defines lives in digest/errors.py and
derives from DigestError (issue 34); a private one (a leading underscore) may stay beside the
code that raises and catches it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
import re
from pathlib import Path

import digest
from digest import errors
from digest.errors import DeliveryError, DigestError, PermanentFailure, TemporaryFailure


def _digest_exceptions() -> set[type[BaseException]]:
    found: set[type[BaseException]] = set()
    for module in pkgutil.walk_packages(digest.__path__, "digest."):
        if module.name == "digest.__main__":  # runs the CLI
            continue
        loaded = importlib.import_module(module.name)
        for _, value in inspect.getmembers(loaded, inspect.isclass):
            if issubclass(value, BaseException) and value.__module__.startswith("digest"):
                found.add(value)
    return found


def test_every_public_exception_is_a_digest_error_defined_in_errors() -> None:
    public = {e for e in _digest_exceptions() if not e.__name__.startswith("_")}
    assert len(public) >= 25  # the walk found the tree (it has 26 classes)
    outside = sorted(
        f"{e.__module__}.{e.__name__}" for e in public if e.__module__ != errors.__name__
    )
    assert outside == []
    assert sorted(e.__name__ for e in public if not issubclass(e, DigestError)) == []


def test_both_relay_answers_are_delivery_errors() -> None:
    """PermanentFailure derived from Exception while its sibling TemporaryFailure derived from
    DeliveryError: a caller catching DeliveryError missed every 5xx."""
    assert issubclass(PermanentFailure, DeliveryError)
    assert issubclass(TemporaryFailure, DeliveryError)
    assert PermanentFailure("550 no such user", "rcpt").exit_code == DeliveryError.exit_code


def test_every_exit_code_is_documented() -> None:
    """The CLI exits with each class's code; the README's exit table says what each means."""
    codes = {
        c.exit_code
        for c in vars(errors).values()
        if inspect.isclass(c) and issubclass(c, DigestError)
    }
    readme = (Path(__file__).parents[1] / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("| exit | meaning |") :].split("\n\n", 1)[0]
    documented = {int(n) for n in re.findall(r"^\| (\d+) \|", table, re.MULTILINE)}
    assert codes <= documented
