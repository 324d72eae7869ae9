"""Render stage: Edition → Email (subject, preheader, HTML part, text part).

HTML, by definition: Jinja2 (autoescaped) → MJML compiled by MRML (mjml-python) → CSS inlined by
premailer, keeping the `@media` rules for mobile and dark mode. Text: its own Jinja2 template.

Compiled once: MJML and premailer cost ~20-80 ms an email, so they run once per template instead.
Every `{{ expression }}` of the template becomes an inert token and every `{% statement %}` an
HTML comment; that marked template goes through MJML and premailer once; the tokens and comments
are turned back into Jinja, each expression wrapped in the escaping that premailer's serialiser
would have produced at that spot (text or attribute). Rendering an email is then one Jinja
render of the compiled HTML, and gives byte-for-byte what the per-recipient pipeline gives
(`Renderer.render_naive`, compared in tests/test_render_compiled.py).

- `view`: the view model (cards, sections, subject, the quiet note; values made printable);
- `compiler`: the template compiled once (MJML, premailer, escaping per spot);
- `slots`: one rendering shared by readers whose editions hold the same papers;
- `renderer`: the Renderer over them.

Names load on first use: the view model (what a feed or a message header needs) never imports
MJML or premailer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from digest._lazy import loader

_API = {
    "BUILTIN_TEMPLATES": "digest.render.view",
    "FULL_CARDS": "digest.render.view",
    "Links": "digest.render.view",
    "card_fields": "digest.render.view",
    "header_safe": "digest.render.view",
    "printable": "digest.render.view",
    "compile_mjml": "digest.render.compiler",
    "Renderer": "digest.render.renderer",
}
__all__ = [
    "BUILTIN_TEMPLATES",
    "FULL_CARDS",
    "Links",
    "Renderer",
    "card_fields",
    "compile_mjml",
    "header_safe",
    "printable",
]


__getattr__ = loader(__name__, _API)


if TYPE_CHECKING:
    from digest.render.compiler import compile_mjml
    from digest.render.renderer import Renderer
    from digest.render.view import (
        BUILTIN_TEMPLATES,
        FULL_CARDS,
        Links,
        card_fields,
        header_safe,
        printable,
    )
