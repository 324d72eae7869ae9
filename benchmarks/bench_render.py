"""Rendering: the compiled template versus the per-recipient pipeline, measured in one run.

Naive = what each recipient would cost without compile-once: Jinja → MJML (mjml-python) →
premailer for every email. digest = one Jinja render of the template compiled once. Same
editions (same papers, each recipient with their own address and signed links), same process;
the outputs are compared byte for byte.

    .venv/bin/python benchmarks/bench_render.py               # 2,000 recipients x 10 papers
    .venv/bin/python benchmarks/bench_render.py --recipients 500 --items 20
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from pathlib import Path

from digest.models import Edition, Pick, Subscriber, interests
from digest.render import Links, Renderer
from digest.sources import load_snapshot

ARXIV = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora" / "arxiv-daily"


def editions(count: int, items: int) -> list[tuple[Edition, Links]]:
    papers = load_snapshot(sorted(ARXIV.glob("*.jsonl"))[0]).papers[:items]
    picks = tuple(
        Pick(p, 1.0, ("matches: language models", f"{i} upvotes")) for i, p in enumerate(papers)
    )
    result = []
    for n in range(count):
        email = f"reader{n}@example.org"
        person = Subscriber(email, f"Reader {n}", interests("language models", "diffusion"))
        links = Links(
            f"https://digest.example.org/archive/2026-11-22/tok{n}",
            f"https://digest.example.org/preferences/tok{n}",
            f"https://digest.example.org/unsubscribe/tok{n}",
            f"https://digest.example.org/archive/tok{n}",
            f"https://digest.example.org/feed/feedtok{n}",
        )
        result.append((Edition("2026-11-22", dt.date(2026, 11, 22), person, picks), links))
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--recipients", type=int, default=2000)
    parser.add_argument("--items", type=int, default=10)
    parser.add_argument("--naive-sample", type=int, default=100)
    args = parser.parse_args()
    work = editions(args.recipients, args.items)
    started = time.perf_counter()
    renderer = Renderer()
    compile_seconds = time.perf_counter() - started

    started = time.perf_counter()
    fast = [renderer.render(e, links) for e, links in work]
    fast_seconds = time.perf_counter() - started

    sample = work[: args.naive_sample]
    started = time.perf_counter()
    slow = [renderer.render_naive(e, links) for e, links in sample]
    naive_per_email = (time.perf_counter() - started) / len(sample)

    assert all(a == b for a, b in zip(fast, slow, strict=False)), "outputs differ"
    rate = len(work) / fast_seconds
    print(f"{args.recipients:,} personalised emails x {args.items} papers (one core)")
    print(f"  compile once: {compile_seconds * 1000:.0f} ms")
    print(
        f"  digest {rate:,.0f} emails/s ({fast_seconds / len(work) * 1000:.2f} ms each)"
        f"   naive {1 / naive_per_email:,.1f} emails/s ({naive_per_email * 1000:.1f} ms each,"
        f" timed on {len(sample)})   ratio {naive_per_email * rate:.0f}x"
    )
    print(f"  identical output (HTML, text, subject, preheader) for all {len(sample)} compared")
    print(f"  HTML size {len(fast[0].html.encode()):,} bytes")


if __name__ == "__main__":
    main()
