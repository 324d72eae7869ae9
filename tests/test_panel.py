"""`digest eval --panel`: a reader panel replayed through `digest send`, judged on what the
emails show. A small panel of its own: ten days of history, one labelled day."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

from click.testing import CliRunner

from digest.cli import cli
from digest.panel import claim_holds


def _item(number: int, title: str, summary: str, upvotes: int) -> dict[str, object]:
    return {
        "paper": {
            "id": f"2504.{number:05d}",
            "title": title,
            "summary": summary,
            "authors": [{"name": "A. Author"}],
            "publishedAt": "2025-04-01T00:00:00.000Z",
            "upvotes": upvotes,
        }
    }


def _panel(tmp_path: Path) -> tuple[Path, Path]:
    corpus = tmp_path / "hf"
    corpus.mkdir()
    start = dt.date(2025, 4, 1)
    topics = ("weather radar", "crop yields", "ocean tides", "river floods")
    for n in range(10):  # history: other topics, never mailed
        items = [
            _item(1000 + 100 * n + k, f"{topic.title()} study {n}", f"We study {topic} again.", k)
            for k, topic in enumerate(topics)
        ]
        (corpus / f"{start + dt.timedelta(days=n)}.json").write_text(json.dumps(items))
    day = start + dt.timedelta(days=10)
    (corpus / f"{day}.json").write_text(
        json.dumps(
            [
                _item(1, "Graph Neural Networks for Molecules", "Message passing on atoms.", 5),
                _item(2, "Sparse Attention", "To our knowledge, the graph of heads is sparse.", 9),
                _item(3, "Crop Yields from Space", "Satellites measure crop yields.", 1),
            ]
        )
    )
    later = day + dt.timedelta(days=1)
    (corpus / f"{later}.json").write_text(
        json.dumps(
            [
                _item(4, "Graph Neural Networks for Crystals", "Message passing on atoms.", 3),
                _item(5, "River Floods Again", "We study river floods again.", 2),
            ]
        )
    )
    panel = tmp_path / "panel"
    panel.mkdir()
    readers = {
        "graphs": {"interests": ["graph neural networks", "knowledge graphs"]},
        "proteins": {"interests": ["protein folding"]},
    }
    labels = {
        str(day): {
            "2504.00001": {"graphs": 2, "proteins": 0},
            "2504.00002": {"graphs": 0, "proteins": 0},
            "2504.00003": {"graphs": 0, "proteins": 0},
        },
        str(later): {
            "2504.00004": {"graphs": 2, "proteins": 0},
            "2504.00005": {"graphs": 0, "proteins": 0},
        },
    }
    (panel / "readers.json").write_text(json.dumps(readers))
    (panel / "labels.json").write_text(json.dumps(labels))
    return panel, corpus


def test_the_panel_is_judged_on_what_the_emails_show(tmp_path: Path, secret_env: str) -> None:
    panel, corpus = _panel(tmp_path)
    result = CliRunner().invoke(cli, ["eval", str(corpus), "--panel", str(panel), "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    # graphs: the one on-topic paper, and not the one that only says "our knowledge … graph";
    # proteins: a quiet-day email, which shows nothing: a silent day, not a padded one.
    assert found["per_reader"]["graphs"]["f1"] == 1.0
    assert found["per_reader"]["proteins"]["f1"] == 1.0
    assert found["f1"] == 1.0 and found["precision"] == 1.0 and found["grade2_recall"] == 1.0
    assert (found["dishonest"], found["padded"], found["empty_with_grade2"]) == (0, 0, 0)
    assert found["claims"] == 2 and found["liked_shown"] == 0
    assert found["ratio"] >= 1.0
    # One tap on the first day's top pick, the second day ranked with and without it: "less"
    # on the molecules paper takes out its crystals twin; "more" brings nothing off topic.
    taps = found["taps"]
    assert (taps["less_close"], taps["less_kept"]) == (1, 0)
    assert 0 not in taps["more_admitted"]


def test_a_folder_that_is_no_panel_is_one_line(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["eval", str(tmp_path), "--panel", str(tmp_path)])
    assert result.exit_code == 1
    assert result.stderr.strip().startswith("digest: error: ") and "readers.json" in result.stderr


def test_a_claim_holds_only_where_the_phrase_stands() -> None:
    assert claim_holds("knowledge graphs", "a knowledge-graph of drugs")
    assert not claim_holds("knowledge graphs", "To our knowledge, the graph")


def test_readers_with_an_imported_library_against_the_svm(tmp_path: Path) -> None:
    """`--library`: a reader whose titles fill 20+ papers of history gets that library (as a
    BibTeX file read back), and the labelled days are ranked by it alone."""
    panel, corpus = _panel(tmp_path)
    start = dt.date(2025, 4, 1)
    for n in range(10):  # three graph papers a day beside the other topics
        path = corpus / f"{start + dt.timedelta(days=n)}.json"
        items = json.loads(path.read_text())
        items += [
            _item(5000 + 10 * n + k, f"Graph Neural Networks for Case {n}-{k}",
                  "Message passing on a graph of atoms and bonds.", 1)
            for k in range(3)
        ]  # fmt: skip
        path.write_text(json.dumps(items))
    found = CliRunner().invoke(
        cli, ["eval", str(corpus), "--panel", str(panel), "--library", "--json"]
    )
    assert found.exit_code == 0, found.output
    figures = json.loads(found.stdout)
    assert figures["readers"] == 1 and figures["library_sizes"] == [30]
    assert figures["digest_top10_ndcg"] == 1.0 and figures["shown_precision"] == 1.0
    assert figures["svm_top10_ndcg"] > 0


def _own_days(tmp_path: Path) -> Path:
    """The same panel in the other layout: its days in `days/`, the days before in
    `history/`, and no corpus beside it."""
    panel, corpus = _panel(tmp_path)
    labels = json.loads((panel / "labels.json").read_text())
    (panel / "days").mkdir()
    (panel / "history").mkdir()
    for path in sorted(corpus.glob("*.json")):
        path.rename(panel / ("days" if path.name[:10] in labels else "history") / path.name)
    corpus.rmdir()
    return panel


def test_a_panel_with_its_own_days_and_history_is_judged_alike(
    tmp_path: Path, secret_env: str
) -> None:
    """A panel carrying `days/` and `history/` (as ../shared/panel2) needs no corpus: the
    default corpus folder does not even exist here (it was "no such folder" before)."""
    panel = _own_days(tmp_path)
    result = CliRunner().invoke(cli, ["eval", "--panel", str(panel), "--json"])
    assert result.exit_code == 0, result.output
    found = json.loads(result.stdout)
    assert found["f1"] == 1.0 and found["precision"] == 1.0 and found["grade2_recall"] == 1.0
    assert found["claims"] == 2 and found["editions"] == 2
    assert (found["taps"]["less_close"], found["taps"]["less_kept"]) == (1, 0)


def test_every_history_day_of_a_panel_is_the_store_before_its_first_day(tmp_path: Path) -> None:
    """All of `history/` is ingested, not only the HISTORY_DAYS a corpus lends."""
    from digest.panel import HISTORY_DAYS, panel_days

    panel = _own_days(tmp_path)
    for n in range(3):  # two more days of history than a corpus would lend
        (panel / "history" / f"2025-03-{20 + n}.json").write_text("[]")
    found = panel_days(panel, tmp_path / "nowhere")
    assert len(found.history) == HISTORY_DAYS + 3
    assert [p.parent.name for p in found.days] == ["days", "days"]
    assert found.every[: found.first] == found.history
