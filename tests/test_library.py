"""A reader's own library: BibTeX, RIS and CSL-JSON exports read (the arXiv id wherever the
exporter put it), matched to stored papers, counted; hostile files refused whole; the papers
teach the ranker and never come back; they travel with the CSV export and go with the reader."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from digest.diff import ingest_paths
from digest.editions import choose_picks, subscribers_from
from digest.errors import LibraryError
from digest.library import MAX_ENTRIES, read_library
from digest.models import Basis, Subscriber
from digest.settings import Settings, load_settings
from digest.store import Store

from .conftest import (
    FIXED_NOW,
    Ran,
    assert_clean_error,
    fixed_clock,
    run,
    run_process,
    write_settings,
)

READER = """
[[subscribers]]
email = "reader@example.org"
interests = ["language models"]
max_items = 10
"""

ZOTERO_BIB = r"""
@article{vaswani_attention_2017,
  title = {Attention {Is} {All} {You} {Need}},
  url = {http://arxiv.org/abs/1706.03762},
  abstract = {The dominant sequence transduction models are based on complex recurrent networks.},
  journaltitle = {{arXiv}},
  author = {Vaswani, Ashish and Shazeer, Noam},
  date = {2017-06-12},
  eprinttype = {arxiv},
  eprint = {1706.03762},
}
@misc{scholar, title={Deep residual learning}, journal={arXiv preprint arXiv:1512.03385},
  year={2015}}
@article{doi_only, title={Une {\'e}tude de l'{\AA}ngstr{\"o}m \& 50\% des \emph{cas}},
  doi={https://doi.org/10.1000/XYZ.123}, year=2020}
@misc{arxiv_doi, title={Denoising Diffusion Probabilistic Models},
  doi={10.48550/arXiv.2006.11239}}
@article{dup, title={ATTENTION is all you need}}
@misc{broken, title={No end
"""

RIS = """TY  - JOUR
TI  - Language Models are Few-Shot Learners
AB  - We show that scaling up language models greatly improves few-shot performance.
AU  - Brown, Tom
UR  - https://arxiv.org/abs/2005.14165v4
PY  - 2020
ER  -
TY  - JOUR
AB  - an entry with no title and no id
ER  -
TY  - CHAP
T1  - Reading <i>with</i> HTML
N1  - arXiv: 2101.00001
"""

CSL = [
    {
        "id": "http://zotero.org/users/1/items/A",
        "type": "article",
        "title": "Scaling Laws for Neural Language Models",
        "number": "arXiv:2001.08361",
        "author": [{"family": "Kaplan", "given": "Jared"}],
        "issued": {"date-parts": [[2020, 1]]},
    },
    {"id": "B", "type": "article", "title": "Crossref <jats:italic>style</jats:italic>"},
    7,
]


def test_an_arxiv_id_is_found_wherever_an_exporter_put_it() -> None:
    bib = read_library("My Library.bib", ZOTERO_BIB.encode())
    by_title = {e.title: e for e in bib.entries}
    assert by_title["Attention Is All You Need"].arxiv_id == "1706.03762"
    assert by_title["Attention Is All You Need"].authors == ("Ashish Vaswani", "Noam Shazeer")
    assert by_title["Attention Is All You Need"].year == 2017
    assert by_title["Deep residual learning"].arxiv_id == "1512.03385"
    assert by_title["Denoising Diffusion Probabilistic Models"].arxiv_id == "2006.11239"
    # LaTeX decoded; a DOI from a doi.org address; the same paper again skipped, with why.
    french = by_title["Une étude de l'Ångström & 50% des cas"]
    assert (french.doi, french.arxiv_id, french.key) == (
        "10.1000/xyz.123",
        None,
        "doi:10.1000/xyz.123",
    )
    reasons = {s.entry: s.reason for s in bib.skipped}
    assert reasons["ATTENTION is all you need"] == "the same title as an earlier entry"
    assert any(r.startswith("not valid BibTeX") for r in reasons.values())
    assert bib.read == len(bib.entries) + len(bib.skipped) == 6

    ris = read_library("export.ris", RIS.encode())
    assert [(e.title, e.arxiv_id) for e in ris.entries] == [
        ("Language Models are Few-Shot Learners", "2005.14165"),
        ("Reading with HTML", "2101.00001"),  # the last entry had no ER line
    ]
    assert [s.reason for s in ris.skipped] == ["it has no title and no arXiv id"]

    csl = read_library("zotero.json", json.dumps(CSL).encode())
    assert [(e.title, e.arxiv_id, e.year) for e in csl.entries] == [
        ("Scaling Laws for Neural Language Models", "2001.08361", 2020),
        ("Crossref style", None, None),
    ]
    assert csl.skipped[0].entry == "item 3"


def test_the_format_is_known_without_its_suffix() -> None:
    assert read_library("download", RIS.encode()).entries
    assert read_library("download", json.dumps(CSL).encode()).entries
    assert read_library("download.txt", ZOTERO_BIB.encode()).entries


@pytest.mark.parametrize(
    ("name", "data", "needle"),
    [
        ("lib.bib", "caf\xe9".encode("latin-1"), "is not UTF-8 text (byte 0xe9"),
        ("lib.bib", b"\x00\x01\x02\x03 binary", "not a text file"),
        ("lib.rdf", b'<?xml version="1.0"?><rdf:RDF/>', "Zotero RDF is not read"),
        ("lib.json", b'[{"title": "x"', "not valid JSON"),
        ("lib.json", b'"a string"', "expected a list of items"),
        ("lib.bib", b"% only a comment\n", "holds no BibTeX entries"),
        ("notes.txt", b"just some words", "is not BibTeX, RIS or CSL-JSON"),
        ("huge.bib", b"@misc{k, title={t}}\n" * (MAX_ENTRIES + 1), "more than 20,000 entries"),
        ("huge.json", json.dumps([{"title": "t"}] * (MAX_ENTRIES + 1)).encode(), "more than"),
    ],
)
def test_a_file_that_cannot_be_read_whole_is_one_clear_error(
    name: str, data: bytes, needle: str
) -> None:
    with pytest.raises(LibraryError, match="^" + name.replace(".", r"\.") + ": ") as error:
        read_library(name, data)
    assert needle in str(error.value)
    assert "\n" not in str(error.value)


def test_an_entry_that_is_too_long_or_marked_up_is_handled_alone() -> None:
    bib = (
        "@misc{long, title={" + "x" * 10_000 + "}}\n"
        "@misc{html, title={<script>alert(1)</script> <b>Bold</b> claims}}\n"
    )
    read = read_library("lib.bib", bib.encode())
    assert [s.reason for s in read.skipped] == ["its title is longer than 1,000 characters"]
    # Markup a title is not is kept as text (it is escaped where shown); known tags go.
    assert read.entries[0].title == "<script>alert(1)</script> Bold claims"


def _import(settings: Path, email: str, *files_and_flags: str | Path) -> Ran:
    """`digest subscribers import-library EMAIL FILES...` with these settings."""
    return run(
        "--settings", settings, "subscribers", "import-library", email, *files_and_flags,
        cwd=settings.parent,
    )  # fmt: skip


def _settings(tmp_path: Path, subscribers: str = READER) -> tuple[Path, Settings]:
    path = write_settings(tmp_path, database=tmp_path / "digest.sqlite", subscribers=subscribers)
    settings = load_settings(path)
    dumps = Path(__file__).resolve().parent.parent / "examples" / "dumps"
    with Store.open(settings.database) as store:
        ingest_paths(store, sorted(dumps.glob("*.txt")), fixed_clock())
    return path, settings


def test_the_import_reports_what_it_read_matched_and_skipped(tmp_path: Path) -> None:
    path, _ = _settings(tmp_path)
    library = tmp_path / "mine.bib"
    library.write_text(
        ZOTERO_BIB
        + "\n@misc{stored, title={Sparse key-value caches for long-context language models}}"
        + "\n@misc{again, title={Attention is all you need}}\n",
        encoding="utf-8",
    )
    ris = tmp_path / "more.ris"
    ris.write_text(RIS, encoding="utf-8")
    done = _import(path, "reader@example.org", library, ris, "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["read"] == 8 + 3
    assert report["matched"] == 1  # the stored paper, by its folded title
    # Kept by title alone: Deep residual learning, the French one, DDPM, the stored paper's
    # entry has the store's abstract; Reading with HTML.
    assert report["without_abstract"] == 4
    assert [s["reason"] for s in report["skipped"]].count("the same title as an earlier entry") == 2
    assert {"entry", "reason"} == set(report["skipped"][0])
    assert report["library"] == report["added"] == 8 + 3 - len(report["skipped"]) == 7
    # Importing the same files again adds nothing.
    again = _import(path, "reader@example.org", library, ris, "--json")
    assert json.loads(again.stdout)["added"] == 0


def test_the_same_paper_in_two_files_is_kept_once_even_by_doi_alone(tmp_path: Path) -> None:
    """One file knows its arXiv id and DOI, the other only the DOI (and another title)."""
    path, _ = _settings(tmp_path)
    first, second = tmp_path / "a.bib", tmp_path / "b.ris"
    first.write_text(
        "@article{a, title={Cell biology}, doi={10.1000/abc}, eprint={2401.01234}}",
        encoding="utf-8",
    )
    second.write_text("TY  - JOUR\nTI  - Cell Biology, revised\nDO  - 10.1000/ABC\nER  -\n")
    done = _import(path, "reader@example.org", first, second, "--json")
    report = json.loads(done.stdout)
    assert [s["reason"] for s in report["skipped"]] == [
        "the same paper as an entry of another file"
    ]
    assert report["library"] == 1


def test_a_bad_file_among_good_ones_stores_nothing(tmp_path: Path) -> None:
    path, settings = _settings(tmp_path)
    good, bad = tmp_path / "good.bib", tmp_path / "bad.json"
    good.write_text(ZOTERO_BIB, encoding="utf-8")
    bad.write_text("[{", encoding="utf-8")
    done = _import(path, "reader@example.org", good, bad)
    assert_clean_error(done, 8, "bad.json: not valid JSON")
    unknown = _import(path, "who@example.org", good)
    assert_clean_error(unknown, 2, "no subscriber 'who@example.org'")
    with Store.open(settings.database) as store:
        assert store.library.count("reader@example.org") == 0


def _titles(settings: Settings) -> list[tuple[str, Basis]]:
    with Store.open(settings.database) as store:
        picks = choose_picks(store, settings, subscribers_from(settings), FIXED_NOW)
    return [(p.paper.title, p.basis) for p in picks["reader@example.org"]]


def test_a_library_paper_is_never_recommended_back(tmp_path: Path) -> None:
    path, settings = _settings(tmp_path)
    paper = "Sparse Key-Value Caches for Long-Context Language Models"
    assert paper in [title for title, _ in _titles(settings)]
    library = tmp_path / "mine.ris"
    # By title only (no id), typed differently: still the same paper.
    library.write_text(f"TY  - JOUR\nTI  - {paper.upper()}\nER  -\n", encoding="utf-8")
    done = _import(path, "reader@example.org", library)
    assert done.returncode == 0, done.stderr
    assert "1 matched to stored papers" in done.stdout
    assert paper not in [title for title, _ in _titles(settings)]


def test_a_library_teaches_a_reader_without_interests(tmp_path: Path) -> None:
    """Papers of the reader's library, none in the store, bring its look-alikes."""
    path, settings = _settings(
        tmp_path, '[[subscribers]]\nemail = "reader@example.org"\nmax_items = 3\n'
    )
    library = tmp_path / "graphs.json"
    library.write_text(
        json.dumps(
            [
                {
                    "title": f"Graph neural networks {topic}",
                    "abstract": f"Message passing graph neural networks for {topic}: nodes"
                    " exchange messages along edges; over-squashing and curvature of graphs.",
                }
                for topic in ("molecules", "citation networks", "traffic forecasting")
            ]
        ),
        encoding="utf-8",
    )
    done = _import(path, "reader@example.org", library)
    assert done.returncode == 0, done.stderr
    picks = _titles(settings)
    assert picks[0] == (
        "Message Passing Without Over-Squashing: Rewiring Graph Neural Networks by Curvature",
        Basis.LIKED,
    )


def test_the_csv_export_carries_the_library_and_the_consent_log(tmp_path: Path) -> None:
    path = write_settings(tmp_path, database=tmp_path / "digest.sqlite", subscribers="")
    settings = load_settings(path)
    add = run("--settings", path, "subscribers", "add", "kim@example.org", cwd=tmp_path)
    assert add.returncode == 0, add.stderr
    library = tmp_path / "lib.bib"
    library.write_text(ZOTERO_BIB, encoding="utf-8")
    _import(path, "kim@example.org", library)
    with Store.open(settings.database) as store:
        store.signups.log("kim@example.org", "confirmed", FIXED_NOW, ip="192.0.2.0", page="/c")
        before = store.library.entries(["kim@example.org"])["kim@example.org"]
    exported = run("--settings", path, "subscribers", "export", cwd=tmp_path)
    assert exported.returncode == 0, exported.stderr
    csv_file = tmp_path / "readers.csv"
    csv_file.write_text(exported.stdout, encoding="utf-8")

    # Into a new store: the same library, the same consent log.
    other = tmp_path / "other"
    other.mkdir()
    other_path = write_settings(other, database=other / "digest.sqlite", subscribers="")
    imported = run("--settings", other_path, "subscribers", "import", csv_file, cwd=other)
    assert imported.returncode == 0, imported.stderr
    with Store.open(other / "digest.sqlite") as store:
        after = store.library.entries(["kim@example.org"])["kim@example.org"]
        # In the same order: the ranker learns from the newest entries.
        assert [e.key for e in after] == [e.key for e in before] and after == before
        [event] = store.signups.events("kim@example.org")
        assert (event["event"], event["ip"], event["page"]) == ("confirmed", "192.0.2.0", "/c")


def test_a_deleted_reader_takes_library_and_consent_along_and_is_not_mailed_again(
    tmp_path: Path,
) -> None:
    path, settings = _settings(tmp_path)  # reader@example.org is in the settings file
    library = tmp_path / "lib.bib"
    library.write_text(ZOTERO_BIB, encoding="utf-8")
    _import(path, "reader@example.org", library)
    with Store.open(settings.database) as store:
        store.signups.log("reader@example.org", "confirmed", FIXED_NOW)
    removed = run("--settings", path, "subscribers", "remove", "Reader@Example.org", cwd=tmp_path)
    assert removed.returncode == 0, removed.stderr
    assert "gets no mail" in removed.stderr
    person = Subscriber("reader@example.org")
    with Store.open(settings.database) as store:
        assert store.library.count("reader@example.org") == 0
        assert store.signups.events("reader@example.org") == []
        assert store.readers.suppressed("READER@example.org") == "deleted"
        # Still in the settings file, and not mailed.
        row = store.ledger.plan_delivery(
            "2026-11-22", person.email, "<m@x>", [], FIXED_NOW, send_empty=True
        )
        assert row.state == "suppressed"
    again = run(
        "--settings", path, "subscribers", "resubscribe", "reader@example.org", cwd=tmp_path
    )
    assert again.returncode == 0, again.stderr
    with Store.open(settings.database) as store:
        assert store.readers.suppressed("reader@example.org") is None


def test_papers_written_as_bibtex_read_back_the_same() -> None:
    """The eval's libraries go through the import as a reader's would: a title with braces
    and LaTeX-looking text, the arXiv id as eprint, the abstract."""
    from digest.evaluate_library import imported
    from digest.models import Paper

    given = Paper(
        key="arxiv:2501.00001",
        title="{Braces} and $\\alpha$-tuning of 50% of GPT's layers",
        abstract="We tune {half} the layers & keep the rest.",
        arxiv_id="2501.00001",
        authors=("Ada Lovelace", "Alan Turing"),
    )
    [back] = imported([given])
    assert back.arxiv_id == "2501.00001" and back.authors == given.authors
    assert "tuning of 50% of GPT's layers" in back.title
    assert back.abstract.startswith("We tune") and "keep the rest" in back.abstract


def test_a_repeated_title_is_said_to_be_a_title_and_a_repeated_id_a_paper() -> None:
    """A journal's library repeats column titles ("Editorial") in every issue: kept once, and
    the reader is told it was for the title, not that it is the same paper."""
    data = (
        b"@article{a, title={Editorial}, year={1990}}\n"
        b"@article{b, title={Editorial}, year={1991}}\n"
        b"@article{c, title={X}, eprint={2401.00001}}\n"
        b"@article{d, title={Y}, eprint={2401.00001}}"
    )
    found = read_library("journal.bib", data)
    assert [e.title for e in found.entries] == ["Editorial", "X"]
    assert [(s.entry, s.reason) for s in found.skipped] == [
        ("Editorial", "the same title as an earlier entry"),
        ("Y", "the same paper as an earlier entry"),
    ]


def test_web_of_science_plain_text_exports_are_read() -> None:
    """Web of Science's "plain text" export (FN, PT … ER tags, lines continued by indent),
    whatever the file is called; and a RIS entry whose only title is its short title."""
    wos = (
        "\ufeffFN Clarivate Analytics Web of Science\nVR 1.0\nPT J\nAU Doe, J\n   Roe, R\n"
        "AF Doe, Jane\n   Roe, Richard\nTI Graph neural networks for\n   sea ice forecasts\n"
        "AB We forecast sea ice with message passing.\nPY 2023\nDI 10.1234/ice.2023.1\nER\n\n"
        "PT J\nAU Poe, E\nTI Tides\nPY 2021\nER\n\nEF\n"
    ).encode()
    for name in ("savedrecs.txt", "export.ris"):
        found = read_library(name, wos)
        assert [e.title for e in found.entries] == [
            "Graph neural networks for sea ice forecasts",
            "Tides",
        ]
        first = found.entries[0]
        assert first.authors == ("Jane Doe", "Richard Roe") and first.doi == "10.1234/ice.2023.1"
        assert first.abstract == "We forecast sea ice with message passing." and first.year == 2023
    short = read_library("x.ris", b"TY  - JOUR\nST  - Only a short title\nPY  - 2020\nER  - \n")
    assert [e.title for e in short.entries] == ["Only a short title"]


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"[" * 60_000, "nested more than 32 levels deep"),
        (b'[{"title": "t", "issued": {"date-parts": [[' + b"9" * 5000 + b"]]}}]", "digits"),
    ],
)
def test_a_deep_or_huge_number_csl_json_library_is_one_clear_error(
    data: bytes, needle: str, tmp_path: Path
) -> None:
    """Was a RecursionError (500 on /welcome, a traceback from import-library) or a
    ValueError (5,000 digits)."""
    with pytest.raises(LibraryError, match=needle):
        read_library("lib.json", data)
    path, _ = _settings(tmp_path)
    library = tmp_path / "deep.json"
    library.write_bytes(data)
    assert_clean_error(_import(path, "reader@example.org", library), 8, needle)


class _Counted:
    """Calls and characters that reached a function."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, owner: object, name: str) -> None:
        self.calls = self.chars = 0
        real = getattr(owner, name)

        def counted(*args: object) -> object:
            self.calls += 1
            self.chars += sum(len(a) for a in args if isinstance(a, str))
            return real(*args)

        monkeypatch.setattr(owner, name, counted)


def test_the_caps_come_before_the_expensive_step(monkeypatch: pytest.MonkeyPatch) -> None:
    """A 9 MB CSL-JSON of `{}` was parsed whole and each item read (35 s, 705 MB) before the
    entry cap said no; a 1 MB BibTeX of `\\foo{x}` titles sent every title through pylatexenc
    (14 s) before the length check. The caps now come first: nothing is read past them."""
    from digest.library import fields, formats

    entries = _Counted(monkeypatch, formats, "_entry")
    with pytest.raises(LibraryError, match="more than 1,000,000 JSON objects"):
        read_library("lib.json", b"[" + b"{}," * 3_000_000 + b"{}]")
    with pytest.raises(LibraryError, match="more than 20,000 entries"):
        read_library("lib.json", b"[" + b"{}," * 30_000 + b"{}]")
    with pytest.raises(LibraryError, match="more than 1,000,000 fields"):
        read_library("lib.ris", b"TY  - JOUR\nTI  - t\n" + b"AU  - x\n" * 1_000_001 + b"ER  -\n")
    with pytest.raises(LibraryError, match="more than 1,000,000 fields"):
        read_library("lib.bib", b"@misc{k,\n" + b"a={x},\n" * 1_000_001 + b"title={t}}\n")
    assert entries.calls == 0

    slow = _Counted(monkeypatch, fields, "_pylatexenc")
    macro = "\\foo{x}"
    long_titles = "".join(
        f"@misc{{k{n}, title={{{macro * 1500}}}}}\n" for n in range(100)
    )  # each title 10,500 characters: skipped unread
    read = read_library("long.bib", long_titles.encode())
    assert len(read.skipped) == 100 and slow.calls == 0
    titles = "".join(
        f"@misc{{k{n}, title={{{n} {macro * 140}}}}}\n" for n in range(1000)
    )  # 1 MB of titles under the length limit, every one of them a macro pylatexenc decodes
    read = read_library("macros.bib", titles.encode())
    assert len(read.entries) == 1000
    assert slow.chars <= max(fields.SLOW_LATEX_BUDGET, len(titles) // fields.SLOW_LATEX_SHARE)
    # Either way, each title's macros are gone and their arguments kept.
    assert {e.title.split(maxsplit=1)[1].replace(" ", "") for e in read.entries} == {"x" * 140}


def test_direction_overrides_and_controls_never_leave_a_library(tmp_path: Path) -> None:
    """U+202E in a title reached the reader's email, where it reversed the line."""
    evil = "Safe title \u202eevil\u202c with \u2066isolates\u2069 and \x1b[31mescapes\x07"
    bib = f"@misc{{k\u202e1, title={{{evil}}}, author={{Ada \u202eLovelace}}, abstract={{{evil}}}}}"
    ris = f"TY  - JOUR\nTI  - {evil}\nAU  - Grace\u200f Hopper\nER  - \n"
    csl = json.dumps([{"id": "x\u202e", "title": evil.replace("\u202c", "&#x202c;"),
                       "author": [{"literal": "K\u202eim"}]}])  # fmt: skip
    for name, data in (("a.bib", bib), ("a.ris", ris), ("a.json", csl)):
        [entry] = read_library(name, data.encode()).entries
        shown = entry.title + entry.abstract + "".join(entry.authors)
        assert not set(shown) & {"\u202e", "\u202c", "\u2066", "\u2069", "\u200f", "\x1b", "\x07"}
        assert entry.title == "Safe title evil with isolates and [31mescapes", name
    skipped = read_library("b.bib", f"@misc{{k\u202ex, author={{a}}}}\n{bib}".encode()).skipped
    assert skipped[0].entry == "kx"


def test_import_library_refuses_fifos_devices_and_directories_in_one_line(
    tmp_path: Path,
) -> None:
    """A FIFO hung the command, /dev/zero was read until memory ran out, a directory was a
    usage error: each is now one line, exit 8, nothing stored."""
    import os

    path, settings = _settings(tmp_path)
    fifo = tmp_path / "library.bib"
    os.mkfifo(fifo)
    for given, needle in (
        (fifo, "is not a regular file (a pipe, socket or device)"),
        (Path("/dev/zero"), "is not a regular file (a pipe, socket or device)"),
        (tmp_path, "is a folder, not a file"),
        (tmp_path / "missing.bib", "no such file"),
    ):
        done = run_process(
            "--settings", path, "subscribers", "import-library", "reader@example.org", given,
            cwd=tmp_path,
        )  # fmt: skip
        assert_clean_error(done, 8, f"{given}: {needle}")
    with Store.open(settings.database) as store:
        assert store.library.count("reader@example.org") == 0
