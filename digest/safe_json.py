"""JSON from outside, bounded before it is parsed: its size, how deeply it nests and how long a
number may be are checked in linear time (C-speed regular expressions), so a hostile body can
cost neither a RecursionError, a quadratic integer conversion nor a parse of megabytes that
would be refused afterwards. Every caller turns `UnsafeJSON` into its own one-line error."""

from __future__ import annotations

import json
import re
from typing import Any

from digest.errors import UnsafeJSON

MAX_DEPTH = 32  # no body digest reads (dumps, webhooks, forms, libraries) nests deeper
MAX_DIGITS = 40  # longer runs of digits are no count, id or timestamp any sender writes

_STRING = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = re.compile(r"[^\[\]{}]+")
_INNERMOST = re.compile(r"\[\]|\{\}")


def check_bounds(
    text: str, *, max_chars: int, max_depth: int = MAX_DEPTH, max_digits: int = MAX_DIGITS
) -> None:
    """Raise UnsafeJSON when `text` is longer than `max_chars`, nests deeper than `max_depth`
    or holds a number of more than `max_digits` digits (outside strings)."""
    if len(text) > max_chars:
        raise UnsafeJSON(f"larger than {max_chars:,} characters")
    skeleton = _STRING.sub('""', text)
    if re.search(rf"\d{{{max_digits + 1},}}", skeleton):
        raise UnsafeJSON(f"a number of more than {max_digits} digits")
    brackets = _NOT_BRACKET.sub("", skeleton)
    for _ in range(max_depth):
        brackets, removed = _INNERMOST.subn("", brackets)
        if not brackets:
            return  # all closed within the bound
        if not removed:  # unbalanced: the parser says where, unless it opens too deep first
            if re.search(rf"[\[{{]{{{max_depth + 1},}}", brackets):
                break
            return
    if brackets:
        raise UnsafeJSON(f"nested more than {max_depth} levels deep")


def loads(
    data: str | bytes, *, max_chars: int, max_depth: int = MAX_DEPTH, max_digits: int = MAX_DIGITS
) -> Any:
    """`json.loads` after `check_bounds`; bytes must be UTF-8. Raises UnsafeJSON only."""
    if isinstance(data, bytes):
        if len(data) > max_chars * 4:
            raise UnsafeJSON(f"larger than {max_chars:,} characters")
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError:
            raise UnsafeJSON("not UTF-8") from None
    check_bounds(data, max_chars=max_chars, max_depth=max_depth, max_digits=max_digits)
    try:
        return json.loads(data)
    except json.JSONDecodeError as exc:
        raise UnsafeJSON(f"not JSON ({exc.msg} at line {exc.lineno} column {exc.colno})") from None
    except (RecursionError, ValueError) as exc:  # bounded above; kept as the last guard
        raise UnsafeJSON(f"not JSON ({type(exc).__name__})") from None
