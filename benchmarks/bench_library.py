"""Library import: a 4,000-entry BibTeX library written the way Better BibTeX writes one
(accents as LaTeX, protective braces, `\\%`, math in abstracts), from real arXiv papers of
../shared/corpora, read by `read_library` against the naive way measured in the same run:
bibtexparser with its own LaTeX-decoding middleware on every field.

    .venv/bin/python benchmarks/bench_library.py              # 4,000 entries
    .venv/bin/python benchmarks/bench_library.py --entries 20000
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from digest.library import read_library

CORPUS = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "arxiv-daily"
_LATEX = {"é": "{\\'e}", "ü": '{\\"u}', "ö": '{\\"o}', "á": "{\\'a}", "ç": "{\\c c}", "ñ": "{\\~n}"}


def _latex(text: str) -> str:
    if text.count("{") != text.count("}"):  # what an exporter escapes to keep the file valid
        text = text.replace("{", "\\{").replace("}", "\\}")
    for char, written in _LATEX.items():
        text = text.replace(char, written)
    return text.replace("%", "\\%").replace("&", "\\&")


def library(entries: int) -> bytes:
    distinct = {
        paper["id"]: paper
        for path in sorted(CORPUS.glob("*.jsonl"))
        for paper in map(json.loads, path.read_text(encoding="utf-8").splitlines())
    }
    papers = list(distinct.values())[:entries]
    if len(papers) < entries:
        raise SystemExit(f"{CORPUS} holds {len(papers)} papers; fewer than {entries}")
    out = []
    for n, paper in enumerate(papers):
        authors = " and ".join(
            _latex(f"{name.rsplit(' ', 1)[-1]}, {name.rsplit(' ', 1)[0]}")
            for name in paper["authors"][:12]
        )
        title = " ".join(
            f"{{{w}}}" if w[:1].isupper() else w for w in _latex(paper["title"]).split()
        )
        out.append(
            f"@misc{{key{n},\n  title = {{{title}}},\n  author = {{{authors}}},\n"
            f"  abstract = {{{_latex(paper['summary'])}}},\n  year = {{2025}},\n"
            f"  eprint = {{{paper['id']}}},\n  archiveprefix = {{arXiv}},\n"
            f"  url = {{{paper['abs']}}},\n}}\n"
        )
    return "".join(out).encode()


def naive(data: bytes) -> int:
    """bibtexparser's own decoding of every field (pylatexenc), then the same fields kept."""
    from bibtexparser.entrypoint import parse_string
    from bibtexparser.middlewares import LatexDecodingMiddleware

    parsed = parse_string(data.decode(), append_middleware=[LatexDecodingMiddleware()])
    return sum(1 for entry in parsed.entries if entry.get("title"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--entries", type=int, default=4000)
    entries = parser.parse_args().entries
    data = library(entries)
    started = time.perf_counter()
    read = read_library("library.bib", data)
    ours = time.perf_counter() - started
    started = time.perf_counter()
    naive_count = naive(data)
    theirs = time.perf_counter() - started
    assert len(read.entries) == entries, (len(read.entries), read.skipped[:3])
    with_id = sum(1 for e in read.entries if e.arxiv_id)
    print(f"{entries:,} BibTeX entries, {len(data) / 2**20:.1f} MB, {with_id:,} with an arXiv id")
    print(f"read_library: {ours:.2f} s ({entries / ours:,.0f} entries/s)")
    print(
        f"naive (bibtexparser + LatexDecodingMiddleware): {theirs:.2f} s"
        f" ({entries - naive_count} entries it could not decode)"
    )
    print(f"ratio: {theirs / ours:.1f}x faster")


if __name__ == "__main__":
    main()
