"""Reading what came back, on one core: 500 real messages (the development part of issue 33's
corpus, cycled; `python -m tests.bounce_corpus` builds it into .cache/bounce-corpus) each
parsed and classified by digest (kind, reason, recipients), next to flufl.bounce alone
(GNU Mailman's detectors: the recipients of permanent and temporary failures) on the same
messages in the same run. Prints both times and their ratio; issue 33's target is 500
messages in under 10 s.

    .venv/bin/python benchmarks/bench_bounces.py
    .venv/bin/python benchmarks/bench_bounces.py --messages 2000
"""

from __future__ import annotations

import argparse
import email
import os
import sys
import time
from collections import Counter
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from digest.bounces import classify  # noqa: E402
from digest.bounces.parsing import parse  # noqa: E402
from tests import bounce_corpus as bc  # noqa: E402


def _development() -> list[bytes]:
    """The development part's messages that are in the cache (nothing is fetched)."""
    labels = bc.load_labels()
    found: dict[str, bytes] = {}
    for package in bc.PACKAGES:
        try:
            found.update(bc.package_messages(package, bc.CACHE / "sdists"))
        except (bc.Unavailable, OSError):
            continue
    for path in sorted((bc.CACHE / "servers").glob("*/*.eml")):
        found[f"{path.parent.name}:{path.stem}"] = path.read_bytes()
    return [data for key, data in sorted(found.items())
            if labels.get(key, {}).get("split") == "development"]  # fmt: skip


def _flufl(data: bytes) -> int:
    from flufl.bounce import all_failures

    temporary, permanent = all_failures(email.message_from_bytes(data))
    return len(temporary) + len(permanent)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=500)
    count = parser.parse_args().messages
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})  # one core
    corpus = _development()
    if not corpus:
        sys.exit("no corpus in .cache/bounce-corpus: run `python -m tests.bounce_corpus` first")
    batch = [corpus[n % len(corpus)] for n in range(count)]
    kinds: Counter[str] = Counter()
    start = time.perf_counter()
    for data in batch:
        kinds[classify(parse(data)).kind] += 1
    ours = time.perf_counter() - start
    start = time.perf_counter()
    for data in batch:
        _flufl(data)
    alone = time.perf_counter() - start
    print(f"{count} messages ({len(corpus)} distinct), one core")
    for name, took in (("digest (parse, kind, reason, recipients)", ours),
                       ("flufl.bounce alone (recipients only)", alone)):  # fmt: skip
        print(f"{name:42s} {took:6.2f} s, {took / count * 1e3:5.2f} ms each")
    print(f"ratio digest / flufl.bounce: {ours / alone:.2f}; target: under 10 s for 500")
    print("kinds:", ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())))


if __name__ == "__main__":
    main()
