"""The template compiler: the MJML template compiled once (MRML via mjml-python, then CSS
inlined by premailer), every Jinja expression wrapped in the escaping premailer's serialiser
would have given it at its spot, so one Jinja render makes each email."""

from __future__ import annotations

import html as html_module
import logging
import re
from collections.abc import Iterable
from typing import Any

import jinja2
from markupsafe import Markup
from mjml import mjml2html
from premailer import Premailer

from digest.errors import RenderError
from digest.render.view import single_line

# cssutils logs one warning per vendor-specific property; they are expected in email CSS.
logging.getLogger("CSSUTILS").setLevel(logging.CRITICAL)


def mrml_attribute(text: str) -> str:
    """MRML writes every attribute value with its backslashes doubled; the compiled paths
    reproduce that so they equal the per-recipient pipeline."""
    return text.replace("\\", "\\\\")


_EXPRESSION = re.compile(r"\{\{(.*?)\}\}", re.DOTALL)
_STATEMENT = re.compile(r"\{%.*?%\}", re.DOTALL)
_JINJA_COMMENT = re.compile(r"\{#.*?#\}", re.DOTALL)
_TOKEN = re.compile(r"<!--(zqs\d+z)-->|(zqv\d+z)")
_EXPRESSION_TOKEN = re.compile(r"(zqv\d+z)")
_ATTRIBUTE_WITH_TOKEN = re.compile(r"""(\s[\w:.-]+)=(["'])([^"']*?zqv\d+z[^"']*?)\2""")


def escaped_text(value: Any) -> Markup:
    """Escape as premailer (lxml) serialises text: & < > only; quotes and non-ASCII as they are."""
    if isinstance(value, Markup):
        return value
    raw = single_line(str(value))
    return Markup(raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))  # noqa: S704 - escaped here


def escaped_attribute(value: Any) -> Markup:
    """Escape as lxml serialises a double-quoted attribute value."""
    if isinstance(value, Markup):
        return value
    raw = single_line(str(value))
    return Markup(  # noqa: S704 - escaped here
        raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    )


def inside_tag(html: str, position: int) -> bool:
    return html.rfind("<", 0, position) > html.rfind(">", 0, position)


class CompiledHtml:
    """The HTML template after one MJML + premailer pass, as a Jinja template (see module doc)."""

    def __init__(self, env: jinja2.Environment, name: str) -> None:
        assert env.loader is not None
        source = _JINJA_COMMENT.sub("", env.loader.get_source(env, name)[0])
        tokens: dict[str, str] = {}

        def expression(match: re.Match[str]) -> str:
            token = f"zqv{len(tokens)}z"
            tokens[token] = match.group(1)
            return token

        def statement(match: re.Match[str]) -> str:
            token = f"zqs{len(tokens)}z"
            tokens[token] = match.group(0)
            return f"<!--{token}-->"

        marked = _STATEMENT.sub(statement, _EXPRESSION.sub(expression, source))
        html = compile_mjml(marked)
        seen: list[str] = []
        self.attributes: list[list[str]] = []  # each attribute's literal pieces

        def attribute(match: re.Match[str]) -> str:
            """A whole attribute holding expressions: lxml picks its quote character from the
            final value, so the attribute is rebuilt, quotes included, at render time."""
            attribute_name, value = match.group(1), match.group(3)
            pieces = _EXPRESSION_TOKEN.split(value)  # literal, token, literal, token, ...
            seen.extend(pieces[1::2])
            self.attributes.append(pieces[0::2])
            arguments = ", ".join(f"({tokens[t]})" for t in pieces[1::2])
            index = len(self.attributes) - 1
            return f"{attribute_name}={{{{ _attribute_value({index}, {arguments}) }}}}"

        html = _ATTRIBUTE_WITH_TOKEN.sub(attribute, html)
        # The literal pieces as text, unescaped once here rather than on every render.
        self._literals = [[html_module.unescape(p) for p in pieces] for pieces in self.attributes]

        def restore(match: re.Match[str]) -> str:
            token = match.group(1) or match.group(2)
            seen.append(token)
            if match.group(1):
                if inside_tag(html, match.start()):
                    raise RenderError(f"template {name}: a {{% statement %}} inside a tag")
                return tokens[token]
            if inside_tag(html, match.start()):
                raise RenderError(f"template {name}: an expression inside a tag, not in a value")
            return f"{{{{ ({tokens[token]})|escaped_text }}}}"

        restored = _tight(_TOKEN.sub(restore, html))
        statements = [t for t in seen if t.startswith("zqs")]
        # MJML may copy an expression (the title also labels the body); never a statement.
        if set(seen) != set(tokens) or len(statements) != len(set(statements)):
            raise RenderError(f"template {name}: MJML or premailer dropped or copied a placeholder")
        # Rebuilding an attribute depends on nothing but its values: {% cache %} may hold one.
        env.pure_functions.add("_attribute_value")  # type: ignore[attr-defined]
        # Jinja drops one trailing newline (keep_trailing_newline is off); premailer ends in one.
        self.template = env.from_string(
            restored + "\n" if restored.endswith("\n") else restored,
            globals={"_attribute_value": self._attribute_value},
        )

    def _attribute_value(self, index: int, *values: Any) -> Markup:
        """Rebuild attribute `index` as lxml serialises it: & < > escaped; double quotes around
        it, unless the value holds " but no ', when lxml uses single quotes and leaves " as is."""
        literals = self._literals[index]
        joined = [literals[0]]
        for value, literal in zip(values, literals[1:], strict=True):
            joined.append(mrml_attribute(single_line(str(value))))
            joined.append(literal)
        raw = "".join(joined)
        escaped = raw.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
        if '"' in raw and "'" not in raw:
            return Markup(f"'{escaped}'")  # noqa: S704 - escaped here
        return Markup('"' + escaped.replace('"', "&quot;") + '"')  # noqa: S704 - escaped here


def joined(pieces: Iterable[str]) -> tuple[tuple[str, ...] | None, str]:
    """The pieces a template wrote, and their text; no pieces when the text holds a bare CR,
    whose line end would fold across two of them."""
    kept = tuple(pieces)
    text = "".join(kept)
    return (None if "\r" in text else kept), text


def compile_mjml(mjml_source: str) -> str:
    """MJML → HTML (MRML), then inline the CSS with premailer, keeping @media rules."""
    try:
        html = mjml2html(mjml_source)
    except Exception as exc:  # MRML raises its own untyped errors
        raise RenderError(f"MJML failed to compile: {exc}") from None
    inliner = Premailer(
        html,
        keep_style_tags=True,
        strip_important=False,
        disable_validation=True,
        allow_network=False,
        cssutils_logging_level=logging.CRITICAL,
    )
    # lxml drops the doctype MRML wrote; without it browsers render the email in quirks mode.
    return _tight(str(inliner.transform(doctype="<!DOCTYPE html>")))


def _tight(html: str) -> str:
    """Drop the line breaks MRML and lxml put between tags. Where they appear depends on how
    many items a loop produced, so without this the compiled and per-recipient outputs would
    differ in whitespace; between tags a line break carries no meaning in an email."""
    return html.replace(">\n<", "><")
