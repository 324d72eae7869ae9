"""Issue 33's development corpus (tests/bounce_corpus.py): every message fetched or regenerated
at set-up is labelled by hand in tests/data/bounce_corpus_labels.json, unchanged since it was
labelled, and split into a development part and a held-out third fixed before any classifier
ran. The classifier's figures on it, per source and per part, are written to
test-artifacts/bounce-corpus-figures.json; the issue's targets are held on the held-out part
(expected to fail until issue 33's classifier work lands)."""

from __future__ import annotations

import email
import hashlib
import json
import os
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from digest.bounces import Kind, classify

from . import bounce_corpus as bc
from .conftest import ARTIFACTS

pytestmark = pytest.mark.integration

KINDS = {"hard", "soft", "delayed", "complaint", "optout", "auth-failure", "auto-reply",
         "delivered", "challenge", "not-a-report"}  # fmt: skip
REASONS = {"user unknown", "host unknown", "mailbox full", "disabled", "policy/blocked", "spam",
           "rate limit", "expired", "too large", "security", "other"}  # fmt: skip
COUNTED = (Kind.HARD, Kind.SOFT, Kind.COMPLAINT)  # what counts against a reader
NEVER_COUNTED = ("auto-reply", "delivered", "auth-failure", "challenge")


@pytest.fixture(scope="session")
def corpus() -> bc.Corpus:
    built = bc.build()
    if built.missing and os.environ.get("CI"):
        pytest.fail(f"part of the bounce corpus could not be had: {built.missing}")
    if not built.messages:
        pytest.skip(f"the bounce corpus could not be had here: {built.missing}")
    return built


def test_the_labels_are_well_formed_and_split_before_any_classifier() -> None:
    labels = bc.load_labels()
    assert len(labels) >= 300
    for key, label in labels.items():
        assert label["kind"] in KINDS, key
        assert label["reason"] in REASONS, key
        assert label["split"] in ("development", "held-out"), key
        assert isinstance(label["recipients"], list), key
    by_source: dict[str, Counter[str]] = defaultdict(Counter)
    for key, label in labels.items():
        by_source[bc.source_of(key)][str(label["split"])] += 1
    for source, split in by_source.items():  # about a third of every source is held out
        total = sum(split.values())
        assert total < 9 or 0.25 <= split["held-out"] / total <= 0.4, (source, split)


def test_every_message_is_labelled_and_unchanged_since(corpus: bc.Corpus) -> None:
    labels = bc.load_labels()
    for key, data in corpus.messages.items():
        label = labels.get(key)
        assert label is not None, f"{key}: not labelled"
        if "sha256" in label:
            assert hashlib.sha256(data).hexdigest() == label["sha256"], f"{key} changed"
        else:
            version = corpus.versions[bc.source_of(key)]
            assert label["server_version"] == version, f"{key}: written by another version"
    fetched = {bc.source_of(k) for k in corpus.messages}
    # A server may write one report fewer on a slow run (a retry that did not fall due).
    for key in (k for k in labels if bc.source_of(k) in fetched and "sha256" in labels[k]):
        assert key in corpus.messages, f"{key}: labelled but not found"


def figures(corpus: bc.Corpus, part: str) -> dict[str, dict[str, object]]:
    """Per source: hard recall, others called hard, complaint recall, and the messages that
    must never count (auto-replies, receipts, DMARC reports) that were counted."""
    labels = bc.load_labels()
    tallies: dict[str, Counter[str]] = defaultdict(Counter)
    misses: dict[str, list[str]] = defaultdict(list)
    for key, data in sorted(corpus.messages.items()):
        label = labels.get(key)
        if label is None or label["split"] != part:
            continue
        message = email.message_from_bytes(data)
        verdict = classify(message)
        found = verdict.kind
        alone = Kind.HARD if _flufl_permanent(message) else Kind.UNRECOGNISED
        for source in (bc.source_of(key), "all"):
            _tally(tallies[source], str(label["kind"]), found)
            _tally_alone(tallies[source], str(label["kind"]), alone)
            if label["kind"] in ("hard", "soft"):
                tallies[source]["failures"] += 1
                tallies[source]["reason_agrees"] += verdict.reason == label["reason"]
        if (label["kind"] == "hard") != (found is Kind.HARD):
            misses[bc.source_of(key)].append(f"{key}: {label['kind']} -> {found}")
    return {
        source: {
            "messages": t["messages"],
            "hard_found": f"{t['hard_found']}/{t['hard']}",
            "others_called_hard": f"{t['others_hard']}/{t['others']}",
            "complaints_found": f"{t['complaints_found']}/{t['complaints']}",
            "never_counted_but_counted": t["wrongly_counted"],
            "reason_agrees_on_failures": f"{t['reason_agrees']}/{t['failures']}",
            "flufl_bounce_alone": {
                "hard_found": f"{t['alone_hard_found']}/{t['hard']}",
                "others_called_hard": f"{t['alone_others_hard']}/{t['others']}",
            },
            "misses": misses.get(source, []),
        }
        for source, t in sorted(tallies.items())
    }


def _tally(tally: Counter[str], kind: str, found: Kind) -> None:
    tally["messages"] += 1
    if kind == "hard":
        tally["hard"] += 1
        tally["hard_found"] += found is Kind.HARD
    else:
        tally["others"] += 1
        tally["others_hard"] += found is Kind.HARD
    if kind in ("complaint", "optout"):
        tally["complaints"] += 1
        tally["complaints_found"] += found is Kind.COMPLAINT
    if kind in NEVER_COUNTED:
        tally["wrongly_counted"] += found in COUNTED


def _flufl_permanent(message: email.message.Message) -> bool:
    """flufl.bounce alone: a hard bounce wherever its detectors find a permanent failure."""
    from flufl.bounce import all_failures

    try:
        return bool(all_failures(message)[1])
    except Exception:  # a detector that trips over a message finds nothing
        return False


def _tally_alone(tally: Counter[str], kind: str, found: Kind) -> None:
    if kind == "hard":
        tally["alone_hard_found"] += found is Kind.HARD
    else:
        tally["alone_others_hard"] += found is Kind.HARD


def _ratio(text: object) -> float:
    done, total = str(text).split("/")
    return int(done) / int(total) if int(total) else 1.0


def test_the_classifiers_figures_are_written_per_source_and_part(corpus: bc.Corpus) -> None:
    written = {part: figures(corpus, part) for part in ("development", "held-out")}
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / "bounce-corpus-figures.json"
    path.write_text(json.dumps(written, indent=2), "utf-8")
    assert written["held-out"]["all"]["messages"]


@pytest.mark.xfail(
    reason="issue 33: held-out, hard 57/58 and 0 never-counted counted, but 1 of 75 others"
    " called hard (1.3 %, target 1 %); not tuned on the held-out part"
)
def test_the_held_out_part_meets_issue_33s_targets(corpus: bc.Corpus) -> None:
    held = figures(corpus, "held-out")["all"]
    assert _ratio(held["hard_found"]) >= 0.95, held
    assert _ratio(held["others_called_hard"]) <= 0.01, held
    assert _ratio(held["complaints_found"]) >= 0.95, held
    assert not held["never_counted_but_counted"], held


def test_the_corpus_is_fetched_not_committed() -> None:
    tracked = Path(bc.REPO / ".gitignore").read_text("utf-8")
    assert ".cache/" in tracked
