"""The {% cache %} tag (digest.fragments): a block rendered once per distinct values it reads,
never reused where anything it shows differs."""

from __future__ import annotations

from pathlib import Path
from typing import Any, NamedTuple

import jinja2
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import Markup

from digest.fragments import FragmentCache

CARD = (
    "{% for item in items %}[{% cache %}{{ item.title }}|{% for link in item.links %}"
    "{{ link.label }}={{ link.href }};{% endfor %}{% if item.flag %}!{% endif %}"
    "{{ item.count }}{% endcache %}#{{ item.index }}]{% endfor %}"
)


class Link(NamedTuple):
    label: str
    href: str


def _environment(autoescape: bool = True) -> jinja2.Environment:
    return jinja2.Environment(autoescape=autoescape, extensions=[FragmentCache])  # noqa: S701


def _fragments(environment: jinja2.Environment) -> dict[Any, str]:
    extension = environment.extensions[FragmentCache.identifier]
    assert isinstance(extension, FragmentCache)
    return extension.fragments


def _plain(source: str) -> str:
    return source.replace("{% cache %}", "").replace("{% endcache %}", "")


scalars = st.one_of(
    st.text(max_size=6),
    st.text(max_size=6).map(Markup),
    st.integers(-2, 2),
    st.booleans(),
    st.none(),
    st.floats(allow_nan=False, width=16),
)
links = st.lists(st.builds(Link, st.text(max_size=4), st.text(max_size=4)), max_size=3).map(
    tuple
) | st.lists(st.fixed_dictionaries({"label": scalars, "href": scalars}), max_size=3)
items = st.lists(
    st.fixed_dictionaries(
        {
            "title": scalars,
            "links": links,
            "flag": scalars,
            "count": scalars,
            "index": st.integers(0, 5),
        }
    ),
    max_size=6,
)


@settings(max_examples=300, deadline=None)
@given(st.lists(items, min_size=1, max_size=4), st.booleans())
def test_a_cached_block_renders_exactly_as_the_block_would(
    renders: list[list[dict[str, Any]]], autoescape: bool
) -> None:
    """Strings, Markup, numbers, booleans, records and dicts as values; one environment
    renders them all in turn, so later renders read blocks cached by earlier ones."""
    cached = _environment(autoescape).from_string(CARD)
    plain = jinja2.Environment(autoescape=autoescape).from_string(_plain(CARD))  # noqa: S701
    for context in renders:
        assert cached.render(items=context) == plain.render(items=context)


def test_a_block_is_keyed_only_by_what_it_reads() -> None:
    """The same card at another place of the list (`index` is read outside the block) is a
    hit; another title is a miss."""
    environment = _environment()
    template = environment.from_string(CARD)
    card = {"title": "T", "links": (Link("PDF", "https://x"),), "flag": True, "count": 1}
    first = template.render(items=[{**card, "index": 0}, {**card, "index": 3}])
    assert first == "[T|PDF=https://x;!1#0][T|PDF=https://x;!1#3]"
    assert len(_fragments(environment)) == 1
    template.render(items=[{**card, "title": "U", "index": 0}])
    assert len(_fragments(environment)) == 2


def test_values_equal_in_python_but_shown_differently_are_different_keys() -> None:
    environment = _environment()
    template = environment.from_string("{% cache %}{{ value }}{% endcache %}")
    assert template.render(value=1) == "1"
    assert template.render(value=True) == "True"
    assert template.render(value=1.0) == "1.0"
    assert template.render(value=0.0) == "0.0"
    assert template.render(value=-0.0) == "-0.0"  # equal to 0.0 in Python (found by CI)
    assert template.render(value=(0.0,)) == "(0.0,)"
    assert template.render(value=(-0.0,)) == "(-0.0,)"
    assert template.render(value="<b>") == "&lt;b&gt;"
    assert template.render(value=Markup("<b>")) == "<b>"
    assert template.render(value=("<b>",)) == "(&#39;&lt;b&gt;&#39;,)"


def test_a_list_changed_between_renders_is_read_again() -> None:
    """Lists and dicts are compared by content every time (only immutable tuples are
    remembered by identity)."""
    template = _environment().from_string(
        "{% cache %}{% for x in values %}{{ x }}{% endfor %}{% endcache %}"
    )
    values = ["a"]
    assert template.render(values=values) == "a"
    values.append("b")
    assert template.render(values=values) == "ab"


@pytest.mark.parametrize(
    ("body", "what"),
    [
        ("{% set x = 1 %}{{ x }}", "cannot hold Assign"),
        ("{{ loop.index }}", "the enclosing loop's `loop`"),
        ("{{ range(3)|list }}", "a call of anything but a pure function"),
        ("{{ item.method() }}", "a call of anything but a pure function"),
        ("{% include 'other' %}", "cannot hold Include"),
        ("{{ item.links|random }}", "the random filter"),
    ],
)
def test_a_block_whose_output_its_values_cannot_key_is_refused(body: str, what: str) -> None:
    source = "{% for item in items %}{% cache %}" + body + "{% endcache %}{% endfor %}"
    with pytest.raises(jinja2.TemplateSyntaxError) as error:
        _environment().from_string(source)
    assert what in str(error.value)
    assert "\n" not in error.value.message  # type: ignore[operator]


def test_loops_inside_a_block_bind_their_own_names() -> None:
    """`loop` and the loop's variable inside the block are the block's own, not keys."""
    environment = _environment()
    template = environment.from_string(
        "{% cache %}{% for x in xs %}{{ loop.index }}{{ x }}{% endfor %}{% endcache %}"
    )
    assert template.render(xs=("a", "b")) == "1a2b"
    assert template.render(xs=("a", "b"), x="ignored", loop="ignored") == "1a2b"
    assert len(_fragments(environment)) == 1


def test_pure_functions_may_be_called() -> None:
    environment = _environment()
    environment.pure_functions.add("shout")  # type: ignore[attr-defined]
    template = environment.from_string(
        "{% cache %}{{ shout(word) }}{% endcache %}", globals={"shout": str.upper}
    )
    assert template.render(word="hi") == "HI"
    assert template.render(word="yo") == "YO"


def test_tuples_made_afresh_for_every_render_do_not_pile_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Tuples are remembered by identity; a context that builds new ones every time (equal
    content, new objects) hits the same fragment, and the memory of them stays bounded."""
    from digest import fragments

    monkeypatch.setattr(fragments, "MAX_MEMO", 10)
    environment = _environment()
    template = environment.from_string("{% cache %}{{ pair }}{% endcache %}")
    extension = environment.extensions[FragmentCache.identifier]
    for n in range(100):
        assert template.render(pair=tuple(["a", str(n % 2)])) in (
            "(&#39;a&#39;, &#39;0&#39;)",
            "(&#39;a&#39;, &#39;1&#39;)",
        )
        assert len(extension._memo) <= 10  # type: ignore[attr-defined]
    assert len(_fragments(environment)) == 2


def test_a_readers_template_with_a_block_that_cannot_be_cached_is_one_line_saying_where(
    tmp_path: Path,
) -> None:
    """A `templates` folder's own digest.txt.j2 with an assignment in a cached block: the
    renderer refuses it when it loads, naming the file and the line."""
    from digest.errors import RenderError
    from digest.render import Renderer

    (tmp_path / "digest.txt.j2").write_text(
        "{{ headline }}\n{% cache %}{% set x = 1 %}{{ x }}{% endcache %}\n"
    )
    with pytest.raises(RenderError) as error:
        Renderer(tmp_path)
    assert str(error.value) == (
        "template error: digest.txt.j2 line 2: {% cache %} cannot hold Assign: its output must"
        " depend only on the values it reads"
    )
