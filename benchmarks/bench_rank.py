"""Ranking: every subscriber in one vectorised call versus a per-subscriber Python loop.

Both use the same prepared Ranker (tf-idf model and paper vectors built once), so the ratio
measures exactly what vectorising over subscribers buys. Both must return identical picks.

    .venv/bin/python benchmarks/bench_rank.py                         # 10k subscribers x 1k papers
    .venv/bin/python benchmarks/bench_rank.py --subscribers 2000 --loop-sample 500

Then one reader's feedback model at two sizes on a big store (10,000 candidates): 100 taps
against 10,000 taps, time and peak memory of the ranking call, which must be about the same
(a reader's taste keeps their latest taps; the products stay sparse).
"""

from __future__ import annotations

import argparse
import random
import time
import tracemalloc
from pathlib import Path

from digest.models import Paper, interests
from digest.rank import Profile, Ranker
from digest.sources import load_snapshot

CORPORA = Path(__file__).resolve().parent.parent.parent / "shared" / "corpora"
ARXIV = CORPORA / "arxiv-daily"
HF = CORPORA / "hf-daily"

PHRASES = (
    "language models",
    "graph neural networks",
    "diffusion models",
    "reinforcement learning",
    "image segmentation",
    "object detection",
    "speech recognition",
    "machine translation",
    "retrieval-augmented generation",
    "medical imaging",
    "autonomous driving",
    "robot",
    "3D reconstruction",
    "gaussian splatting",
    "video generation",
    "question answering",
    "multimodal",
    "vision-language",
    "benchmark",
    "reasoning",
    "agents",
    "quantization",
    "federated learning",
    "privacy",
    "security",
    "recommendation",
    "point clouds",
    "pose estimation",
    "super-resolution",
    "text-to-image",
    "knowledge distillation",
    "contrastive learning",
    "transformers",
    "attention",
    "mixture of experts",
    "code generation",
    "mathematical reasoning",
    "hallucination",
    "alignment",
    "instruction tuning",
    "tracking",
    "depth estimation",
    "audio",
)
EXCLUDES = ("survey", "benchmark", "dataset", "medical", "review")


def profiles(
    count: int, authors: list[str], history: list[Paper], with_feedback: int, seed: int = 7
) -> list[Profile]:
    """Readers with 2-5 phrases from the pool; the first `with_feedback` of them have tapped
    "more" on 1-5 and "less" on 0-3 earlier papers (a feedback model each)."""
    rng = random.Random(seed)
    return [
        Profile(
            interests=interests(*rng.sample(PHRASES, rng.randint(2, 5))),
            exclude=tuple(rng.sample(EXCLUDES, rng.randint(0, 1))),
            max_items=rng.choice((5, 10, 10, 20)),
            authors=tuple(rng.sample(authors, 1)) if rng.random() < 0.2 else (),
            more=tuple(rng.sample(history, rng.randint(1, 5))) if n < with_feedback else (),
            less=tuple(rng.sample(history, rng.randint(0, 3))) if n < with_feedback else (),
        )
        for n in range(count)
    ]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--papers", type=int, default=1_000)
    parser.add_argument(
        "--feedback", type=int, default=1_000, help="how many subscribers have feedback models"
    )
    parser.add_argument(
        "--loop-sample",
        type=int,
        default=2_000,
        help="time the loop on this many subscribers and scale up (it is linear in them)",
    )
    parser.add_argument(
        "--taste-papers",
        type=int,
        default=5_000,
        help="candidates for the one-reader feedback figures (0: skip them)",
    )
    args = parser.parse_args()
    papers: list[Paper] = []
    for day in sorted(ARXIV.glob("*.jsonl")):
        papers.extend(load_snapshot(day).papers)
        if len(papers) >= args.papers * 2:
            break
    candidates, history = papers[: args.papers], papers[args.papers : args.papers * 2]
    authors = sorted({a for p in candidates for a in p.authors})
    people = profiles(args.subscribers, authors, history, args.feedback)

    started = time.perf_counter()
    ranker = Ranker(candidates, corpus=[f"{p.title}. {p.abstract}" for p in history])
    prepare = time.perf_counter() - started
    started = time.perf_counter()
    ranker.learn(sorted({i.phrase for p in people for i in p.interests}))
    learn = time.perf_counter() - started

    started = time.perf_counter()
    together = ranker.rank(people)
    vectorised = time.perf_counter() - started

    sample = people[: args.loop_sample]
    started = time.perf_counter()
    one_by_one = [ranker.rank([person])[0] for person in sample]
    loop = (time.perf_counter() - started) * len(people) / len(sample)

    same = sum(
        [(p.paper.key, p.score) for p in a] == [(p.paper.key, p.score) for p in b]
        for a, b in zip(together, one_by_one, strict=False)
    )
    assert same == len(sample), f"only {same} of {len(sample)} subscribers got identical picks"
    print(
        f"{args.subscribers:,} subscribers x {len(candidates):,} papers,"
        f" {args.feedback:,} of them with feedback models"
    )
    print(f"  shared by both: BM25 index, tf-idf model and paper vectors {prepare:.2f} s,")
    print(f"  one classifier per distinct interest phrase (learned from the corpus) {learn:.2f} s")
    print(
        f"  digest, all subscribers in one call: {vectorised:.2f} s   per-subscriber loop:"
        f" {loop:.1f} s (timed on {len(sample):,}, scaled)   ratio {loop / vectorised:.1f}x"
    )
    print(f"  identical picks for all {len(sample):,} compared subscribers")
    print(f"  end to end for all subscribers: {prepare + learn + vectorised:.2f} s")
    if args.taste_papers:
        everything: list[Paper] = []
        seen: set[str] = set()
        days = sorted(ARXIV.glob("*.jsonl")) + sorted(HF.glob("*.json"))
        for day in days:
            for paper in load_snapshot(day).papers:
                if paper.key not in seen:
                    seen.add(paper.key)
                    everything.append(paper)
        heavy_feedback(everything, args.taste_papers, (100, 10_000))


def heavy_feedback(papers: list[Paper], candidates: int, votes: tuple[int, ...]) -> None:
    """One reader's ranking with `votes` taps each (half more, half less), on `candidates`
    papers: seconds and peak memory of the call."""
    # The taps: the corpora's papers, the candidates' last, again from the start when there
    # are more taps than papers (a reader taps papers of earlier days; the corpora hold too
    # few to keep both sets apart at this size).
    pool, order = papers[:candidates], papers[candidates:] + papers[:candidates]
    taps = [order[n % len(order)] for n in range(max(votes))]
    ranker = Ranker(pool, corpus=[f"{p.title}. {p.abstract}" for p in papers[candidates:]])
    base = interests("language models", "reasoning")
    print(
        f"one reader's feedback on {len(pool):,} candidates"
        f" (taps on up to {len(set(p.key for p in taps)):,} distinct papers):"
    )
    ranker.rank([Profile(interests=base, max_items=10)])  # what every call shares, once
    figures = []
    for count in votes:
        more, less = tuple(taps[: count // 2]), tuple(taps[count // 2 : count])
        reader = Profile(interests=base, max_items=10, more=more, less=less)
        tracemalloc.start()
        started = time.perf_counter()
        ranker.rank([reader])
        seconds = time.perf_counter() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        figures.append((count, seconds, peak))
        print(f"  {count:>6,} taps: {seconds:.2f} s, peak {peak / 2**20:.0f} MiB")
    if len(figures) >= 2:
        (few, t_few, m_few), (many, t_many, m_many) = figures[0], figures[-1]
        print(
            f"  {many:,} taps cost {t_many / t_few:.2f}x the time and {m_many / m_few:.2f}x the"
            f" memory of {few:,}"
        )


if __name__ == "__main__":
    main()
