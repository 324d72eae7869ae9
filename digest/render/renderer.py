"""The Renderer: loads and compiles the templates once, renders any number of editions (with
shared slots where readers' editions are alike), and the per-recipient pipeline it must equal."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import jinja2

from digest.errors import RenderError, Unshareable
from digest.fragments import FragmentCache
from digest.models import Edition, Email
from digest.render.compiler import CompiledHtml, compile_mjml, escaped_text, joined
from digest.render.slots import (
    MAX_SEEN,
    NOT_YET,
    SharedRendering,
    no_bare_cr,
    slot_markers,
    slot_values,
    split_slots,
)
from digest.render.view import (
    BUILTIN_TEMPLATES,
    DEFAULT_PREHEADER,
    DEFAULT_SUBJECT,
    HTML_TEMPLATE,
    TEXT_TEMPLATE,
    Links,
    edition_context,
    recipient_fields,
)


class Renderer:
    """Loads and compiles the templates once; renders any number of editions."""

    def __init__(
        self,
        template_dir: Path | None = None,
        subject: str = DEFAULT_SUBJECT,
        preheader: str = DEFAULT_PREHEADER,
    ) -> None:
        self._formats = (subject, preheader)
        folders = [BUILTIN_TEMPLATES]
        if template_dir is not None:
            if not template_dir.is_dir():
                raise RenderError(
                    f"templates folder {template_dir} does not exist; fix `templates` in settings"
                )
            folders.insert(0, template_dir)
        self._html_env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(f) for f in folders]),
            autoescape=True,
            undefined=jinja2.StrictUndefined,
            trim_blocks=True,
            lstrip_blocks=True,
            extensions=[FragmentCache],
        )
        # The text/plain part is never parsed as HTML, so it is not HTML-escaped.
        self._text_env = jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(f) for f in folders]),
            autoescape=False,  # noqa: S701
            undefined=jinja2.StrictUndefined,
            keep_trailing_newline=True,
            extensions=[FragmentCache],
        )
        # The compiled template escapes text with this; attributes go through _attribute_value.
        self._html_env.filters["escaped_text"] = escaped_text
        try:
            self._html = self._html_env.get_template(HTML_TEMPLATE)
            self._text = self._text_env.get_template(TEXT_TEMPLATE)
            self._compiled = CompiledHtml(self._html_env, HTML_TEMPLATE).template
        except jinja2.TemplateSyntaxError as exc:  # where, so that it can be fixed
            where = f"{exc.name} line {exc.lineno}: " if exc.name else ""
            raise RenderError(f"template error: {where}{exc.message}") from None
        except jinja2.TemplateError as exc:
            raise RenderError(f"template error: {exc}") from None
        self._shared: dict[tuple[Any, ...], SharedRendering | None] = {}
        self._seen: set[tuple[Any, ...]] = set()  # editions rendered once, not shared yet
        self._share_verified = False
        self._share_broken = False

    def _render(self, edition: Edition, links: Links, *, naive: bool) -> Email:
        context = edition_context(edition, links, *self._formats)
        pieces: tuple[str, ...] | None = None
        text_pieces: tuple[str, ...] | None = None
        try:
            if naive:
                html = compile_mjml(self._html.render(context))
                text = self._text.render(context)
            else:  # in the pieces Jinja writes: the mail code encodes the long ones once
                pieces, html = joined(self._compiled.generate(context))
                text_pieces, text = joined(self._text.generate(context))
        except jinja2.TemplateError as exc:
            raise RenderError(f"template error while rendering: {exc}") from None
        return Email(
            subject=context["subject"],
            preheader=context["preheader"],
            html=html,
            text=text,
            html_pieces=pieces,
            text_pieces=text_pieces,
        )

    def render(self, edition: Edition, links: Links) -> Email:
        """One email. The first reader who gets these papers has it rendered directly (each
        card from the template's {% cache %}); from the second on, the edition is rendered
        once with slots (see _share) and only their address, interests and signed links are
        filled in."""
        key = (edition.edition_id, edition.date, edition.picks, len(links.votes), links.in_browser)
        if self._share_broken:
            return self._render(edition, links, naive=False)
        shared = self._shared.get(key, NOT_YET)
        if shared is NOT_YET:
            if key not in self._seen:  # readers of different interests rarely share papers
                if len(self._seen) >= MAX_SEEN:
                    self._seen.clear()
                self._seen.add(key)
                return self._render(edition, links, naive=False)
            if len(self._shared) > 512:
                self._shared.clear()
            shared = self._shared[key] = self._share(edition, links)
        if not isinstance(shared, SharedRendering):  # this template cannot share: render directly
            return self._render(edition, links, naive=False)
        values = slot_values(recipient_fields(edition, links))
        try:
            html, pieces = shared.fill_html(values)
        except Unshareable:
            return self._render(edition, links, naive=False)
        text, text_pieces = shared.fill_text(values)
        return Email(
            subject=shared.subject,
            preheader=shared.preheader,
            html=html,
            text=text,
            html_pieces=pieces,
            text_pieces=text_pieces,
        )

    def _share(self, edition: Edition, links: Links) -> SharedRendering | None:
        """Render the edition once with slots for the reader's values."""
        context = edition_context(edition, links, *self._formats)
        context.update(slot_markers(len(context["votes"])))  # the reader's own links become slots
        try:
            html = self._compiled.render(context)
            text = self._text.render(context)
        except jinja2.TemplateError as exc:
            raise RenderError(f"template error while rendering: {exc}") from None
        html_parts, html_tail = split_slots(html, html=True)
        text_parts, text_tail = split_slots(text, html=False)
        shared = SharedRendering(
            context["subject"],
            context["preheader"],
            html_parts,
            html_tail,
            text_parts,
            text_tail,
            no_bare_cr(html_parts, html_tail),
            no_bare_cr(text_parts, text_tail),
        )
        if self._share_verified:
            return shared
        # Once per template: a template that reshapes reader values (wraps, slices) cannot
        # share, and from then on every email is rendered directly.
        values = slot_values(recipient_fields(edition, links))
        try:
            filled = shared.fill_html(values)[0]
        except Unshareable:
            return shared  # this reader renders directly; verify with the next one
        direct = self._render(edition, links, naive=False)
        if (filled, shared.fill_text(values)[0]) != (direct.html, direct.text):
            self._share_broken = True
            return None
        self._share_verified = True
        return shared

    def render_naive(self, edition: Edition, links: Links) -> Email:
        """The same email the slow way (Jinja → MJML → premailer for this one reader): the
        reference the compiled path must equal, and the benchmark's baseline."""
        return self._render(edition, links, naive=True)
