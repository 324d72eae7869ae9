"""The `{% cache %}` tag: a block of a template rendered once for each distinct set of values it
reads, then reused.

Readers with different interests rarely get the same email, but they get the same papers: a
paper's card is the same in every email that carries it. Wrapped in `{% cache %}`, a card is
rendered the first time and copied afterwards. The key is found by the tag itself, not written
by the template's author: every variable the block reads (as far down its attributes and
constant subscripts as it reads them, `item.title`, `item.links`, not all of `item`), so a
block can never be reused where any value it shows differs. What cannot be keyed that way is
refused when the template loads: assignments, macros, `loop` of an enclosing loop, calls
other than the environment's pure functions (`Environment.pure_functions`, a set of names) and
the `random` filter; every other filter must give the same output for the same input, as
Jinja's own do."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import jinja2
from jinja2 import nodes
from jinja2.ext import Extension
from jinja2.parser import Parser
from markupsafe import Markup

MAX_FRAGMENTS = 20_000  # cached blocks kept per environment (a card is ~1-2 KB)
MAX_MEMO = 4 * MAX_FRAGMENTS  # tuples remembered by identity (a render may make new ones)
IMPURE_FILTERS = frozenset({"random"})

# Statements and expressions a cached block may hold: nothing that assigns or calls
# anything unknown, so its output depends on its key alone.
_ALLOWED = (
    nodes.Output,
    nodes.TemplateData,
    nodes.If,
    nodes.For,
    nodes.Const,
    nodes.Name,
    nodes.Getattr,
    nodes.Getitem,
    nodes.Filter,
    nodes.Test,
    nodes.CondExpr,
    nodes.BinExpr,
    nodes.UnaryExpr,
    nodes.Compare,
    nodes.Operand,
    nodes.Concat,
    nodes.Tuple,
    nodes.List,
    nodes.Keyword,
    nodes.Slice,
    nodes.MarkSafe,
    nodes.MarkSafeIfAutoescape,
    nodes.Call,
)


class FragmentCache(Extension):
    """`{% cache %} ... {% endcache %}`: see the module's doc."""

    tags = {"cache"}  # noqa: RUF012 - as jinja2.ext.Extension declares it

    def __init__(self, environment: jinja2.Environment) -> None:
        super().__init__(environment)
        environment.extend(pure_functions=set())
        self.fragments: dict[tuple[Any, ...], str] = {}
        # Immutable tuples already frozen, by identity (each kept alive here, so its id stays
        # its own): the same records reach many renders.
        self._memo: dict[int, tuple[tuple[Any, ...], Any]] = {}
        self._blocks = 0

    def parse(self, parser: Parser) -> nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endcache",), drop_needle=True)
        pure: set[str] = self.environment.pure_functions  # type: ignore[attr-defined]
        reads = _Reads(pure, parser.name, parser.filename)
        for node in body:
            reads.visit(node, frozenset(), lineno)
        self._blocks += 1
        block = nodes.Const((parser.name, self._blocks))
        key = nodes.Tuple(list(reads.chains.values()), "load")
        call = self.call_method("_cached", [block, key])
        return nodes.CallBlock(call, [], [], body).set_lineno(lineno)

    def _cached(
        self, block: tuple[Any, ...], key: tuple[Any, ...], caller: Callable[[], str]
    ) -> str:
        memo = self._memo
        if len(memo) >= MAX_MEMO:
            memo.clear()
        found_key = (block, *(_frozen(value, memo) for value in key))
        found = self.fragments.get(found_key)
        if found is None:
            if len(self.fragments) >= MAX_FRAGMENTS:
                self.fragments.clear()
                memo.clear()
            found = self.fragments[found_key] = caller()
        return found


class _Reads:
    """The values a block reads: each maximal chain of attributes and constant subscripts that
    starts at a variable the block does not bind itself."""

    def __init__(self, pure: set[str], name: str | None, filename: str | None) -> None:
        self.pure = pure
        self.name, self.filename = name, filename
        self.chains: dict[str, nodes.Expr] = {}

    def refuse(self, what: str, lineno: int) -> None:
        raise jinja2.TemplateSyntaxError(
            f"{{% cache %}} cannot hold {what}: its output must depend only on the values it reads",
            lineno,
            self.name,
            self.filename,
        )

    def visit(self, node: nodes.Node, bound: frozenset[str], lineno: int) -> None:
        lineno = getattr(node, "lineno", None) or lineno
        if not isinstance(node, _ALLOWED):
            self.refuse(type(node).__name__, lineno)
        if isinstance(node, nodes.Filter) and node.name in IMPURE_FILTERS:
            self.refuse(f"the {node.name} filter", lineno)
        if isinstance(node, nodes.For):
            self.visit(node.iter, bound, lineno)
            inner = bound | _stored(node.target) | {"loop"}
            for child in (node.target, *node.body, *node.else_):
                self.visit(child, inner, lineno)
            if node.test is not None:
                self.visit(node.test, inner, lineno)
            return
        if isinstance(node, nodes.Call):
            callee = node.node
            if not (isinstance(callee, nodes.Name) and callee.name in self.pure):
                self.refuse("a call of anything but a pure function", lineno)
            for child in (*node.args, *node.kwargs):
                self.visit(child, bound, lineno)
            return
        root = _chain_root(node)
        if root is not None and root.ctx == "load":
            if root.name in bound:
                return
            if root.name == "loop":
                self.refuse("the enclosing loop's `loop`", lineno)
            self.chains.setdefault(node.dump(), node)  # type: ignore[arg-type]
            return
        for child in node.iter_child_nodes():
            self.visit(child, bound, lineno)


def _chain_root(node: nodes.Node) -> nodes.Name | None:
    """The variable a chain like `item.links[0].href` starts at, or None if `node` is not one."""
    while isinstance(node, nodes.Getattr | nodes.Getitem):
        if isinstance(node, nodes.Getitem) and not isinstance(node.arg, nodes.Const):
            return None
        node = node.node
    return node if isinstance(node, nodes.Name) else None


def _stored(target: nodes.Node) -> frozenset[str]:
    return frozenset(n.name for n in _walk(target) if isinstance(n, nodes.Name))


def _walk(node: nodes.Node) -> Iterator[nodes.Node]:
    yield node
    for child in node.iter_child_nodes():
        yield from _walk(child)


_SCALARS = frozenset({int, bool, type(None), Markup})
_MEMOABLE = _SCALARS | {str, float}


def _frozen(value: Any, memo: dict[int, tuple[tuple[Any, ...], Any]]) -> Any:
    """A hashable stand-in for a value, equal exactly when the values render the same: types
    count (1 and True, Markup and str render differently). Tuples holding only such values are
    remembered by identity in `memo`."""
    kind = type(value)
    if kind is str:
        return value
    if kind in _SCALARS:
        return (kind, value)
    if kind is float:
        return (kind, repr(value))  # 0.0 == -0.0, but they render differently
    if isinstance(value, tuple):
        found = memo.get(id(value))
        if found is not None and found[0] is value:
            return found[1]
        frozen = (kind, tuple(_frozen(item, memo) for item in value))
        if all(type(item) in _MEMOABLE or id(item) in memo for item in value):
            memo[id(value)] = (value, frozen)
        return frozen
    if isinstance(value, dict):
        return (kind, tuple((k, _frozen(v, memo)) for k, v in value.items()))
    if isinstance(value, list):
        return (kind, tuple(_frozen(item, memo) for item in value))
    if isinstance(value, jinja2.Undefined):
        return (kind,)  # renders as nothing (or raises) whatever its name
    hash(value)  # anything else must be immutable and hashable (a frozen record)
    return (kind, value)
