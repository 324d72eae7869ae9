from __future__ import annotations

import datetime as dt

import pytest

from digest.identity import paper_key
from digest.models import Basis, Paper, interests
from digest.rank import Candidate, Interest, Profile, Ranker, Weights, rank


def _paper(title: str, abstract: str = "", upvotes: int | None = None) -> Paper:
    return Paper(key=paper_key(title), title=title, abstract=abstract, upvotes=upvotes)


PAPERS = [
    _paper("Graph Neural Networks for Molecules", "We apply message passing to chemistry.", 5),
    _paper("A Survey of Graph Neural Networks", "We review graph neural networks.", 50),
    _paper("Scaling Language Models", "Large language models trained on more data.", 12),
    _paper("Four-Bit Quantization of Language Models", "Quantization keeps accuracy.", 2),
    _paper("Robot Folding", "A robot folds laundry.", 0),
]


def test_interests_rank_matching_papers_first_with_reasons() -> None:
    [picks] = rank(
        PAPERS,
        [
            Profile(
                interests(
                    "graph neural networks",
                ),
                (),
                3,
            )
        ],
    )
    titles = [p.paper.title for p in picks]
    assert set(titles) == {
        "Graph Neural Networks for Molecules",
        "A Survey of Graph Neural Networks",
    }
    assert all(p.reasons[0] == "matches: graph neural networks" for p in picks)
    assert all(p.basis is Basis.INTEREST and p.interest == "graph neural networks" for p in picks)
    [popular] = rank(PAPERS, [Profile(interests(), (), 1)])
    assert popular[0].basis is Basis.POPULAR
    assert popular[0].reasons == ("trending in this listing",)  # counts are the card's to show


def test_exclude_vetoes_a_paper() -> None:
    [picks] = rank(
        PAPERS,
        [
            Profile(
                interests(
                    "graph neural networks",
                ),
                ("survey",),
                5,
            )
        ],
    )
    assert [p.paper.title for p in picks] == ["Graph Neural Networks for Molecules"]


def test_max_items_and_several_profiles_at_once() -> None:
    results = rank(
        PAPERS,
        [
            Profile(
                interests(
                    "language models",
                ),
                (),
                1,
            ),
            Profile(interests("quantization", "language models"), (), 5),
        ],
    )
    assert [p.paper.title for p in results[0]] == ["Scaling Language Models"] or [
        p.paper.title for p in results[0]
    ] == ["Four-Bit Quantization of Language Models"]
    assert len(results[0]) == 1
    assert results[1][0].paper.title == "Four-Bit Quantization of Language Models"
    assert "quantization" in results[1][0].reasons[0]


def test_no_interests_falls_back_to_popularity() -> None:
    [picks] = rank(PAPERS, [Profile(interests(), (), 2)])
    assert [p.paper.title for p in picks] == [
        "A Survey of Graph Neural Networks",
        "Scaling Language Models",
    ]


def test_ties_break_deterministically() -> None:
    twins = [_paper(f"Identical paper {i}", "same words") for i in range(5)]
    first = rank(twins, [Profile(interests(), (), 5)])[0]
    second = rank(list(twins), [Profile(interests(), (), 5)])[0]
    assert [p.paper.title for p in first] == [p.paper.title for p in second]
    assert [p.paper.title for p in first] == [f"Identical paper {i}" for i in range(5)]


def test_empty_inputs() -> None:
    assert rank(
        [],
        [
            Profile(
                interests(
                    "x",
                ),
                (),
                3,
            )
        ],
    ) == [[]]
    assert rank(PAPERS, []) == []
    # Stop words only: tf-idf has no vocabulary, the exact phrase match still counts.
    [[only]] = rank(
        [_paper("The", "a an")],
        [
            Profile(
                interests(
                    "the",
                ),
                (),
                3,
            )
        ],
    )
    assert only.reasons == ("matches: the",)


# -- interest model ---------------------------------------------------------------------------

STILL = Weights(popularity=0, trending=0, freshness=0, diversity=0)


def test_weights_decide_between_two_interests() -> None:
    papers = [_paper("Quantization of Language Models", "int4"), _paper("Robot Folding", "robot")]
    light_robot = Profile((Interest("quantization", 3.0), Interest("robot", 1.0)), (), 2)
    heavy_robot = Profile((Interest("quantization", 1.0), Interest("robot", 3.0)), (), 2)
    first, second = rank(papers, [light_robot, heavy_robot], weights=STILL)
    assert first[0].paper.title.startswith("Quantization")
    assert second[0].paper.title.startswith("Robot")


def test_stemming_matches_word_forms() -> None:
    [picks] = rank(
        [_paper("Networks of graphs", "Graph neural networks rewired.")],
        [
            Profile(
                interests(
                    "graph neural network",
                ),
                (),
                3,
            )
        ],
    )
    assert picks and picks[0].reasons[0] == "matches: graph neural network"
    # An exclusion is stemmed too: "surveys" vetoes a paper that says "survey".
    assert (
        rank(
            PAPERS,
            [
                Profile(
                    interests(
                        "graph neural networks",
                    ),
                    ("surveys",),
                    5,
                )
            ],
        )[0][0].paper.title
        == "Graph Neural Networks for Molecules"
    )


def test_followed_authors_boost_and_explain() -> None:
    by_ada = Paper(
        key="k1", title="Weather Forecasting", abstract="forecasts", authors=("Ada Nwosu",)
    )
    other = Paper(key="k2", title="Weather Forecasting Again", abstract="forecasts")
    [picks] = rank(
        [other, by_ada],
        [
            Profile(
                interests(
                    "weather forecasting",
                ),
                (),
                2,
                authors=("ada nwosu",),
            )
        ],
    )
    assert picks[0].paper is by_ada
    assert "by Ada Nwosu" in picks[0].reasons
    # Following an author alone is enough to get their papers.
    [only] = rank([other, by_ada], [Profile(authors=("Ada Nwosu",), max_items=5)])
    assert [p.paper for p in only] == [by_ada]


def test_liked_papers_pull_similar_ones_up() -> None:
    liked = (_paper("Message passing on molecular graphs", "graph neural networks for chemistry"),)
    candidates = [
        _paper("Language model scaling laws", "tokens and parameters"),
        _paper("Equivariant message passing for molecules", "graph networks predict chemistry"),
        _paper("Robot folding", "laundry"),
    ]
    [picks] = rank(candidates, [Profile(liked=liked, max_items=1)], weights=STILL)
    assert picks[0].paper.title.startswith("Equivariant")
    assert picks[0].reasons[0] == "similar to papers you liked: Message passing on molecular graphs"


def test_min_score_and_skip_ids() -> None:
    candidates = [Candidate(p, paper_id=i) for i, p in enumerate(PAPERS)]
    profile = Profile(
        interests(
            "language models",
        ),
        (),
        5,
    )
    assert {p.paper_id for p in rank(candidates, [profile])[0]} == {2, 3}
    skipping = Profile(
        interests(
            "language models",
        ),
        (),
        5,
        skip_ids=frozenset({2}),
    )
    assert [p.paper_id for p in rank(candidates, [skipping])[0]] == [3]
    strict = Profile(
        interests(
            "language models",
        ),
        (),
        5,
        min_score=10.0,
    )
    assert rank(candidates, [strict])[0] == []


def test_diversity_keeps_near_duplicates_from_filling_the_list() -> None:
    twins = [
        _paper(
            f"Diffusion models for video {i}",
            "diffusion models generate video frames, as diffusion models do",
        )
        for i in range(3)
    ]
    different = _paper("Diffusion models for proteins", "diffusion models design protein backbones")
    profile = Profile(
        interests(
            "diffusion models",
        ),
        (),
        2,
    )
    [plain] = rank([*twins, different], [profile], weights=STILL)
    [diverse] = rank([*twins, different], [profile], weights=Weights(diversity=0.7))
    assert different not in [p.paper for p in plain]
    assert different in [p.paper for p in diverse]


def test_trending_and_freshness_break_ties_with_reasons() -> None:
    now = dt.datetime(2026, 11, 22, tzinfo=dt.UTC)
    old = Paper(
        key="o", title="Graph networks A", abstract="x", published=dt.date(2026, 1, 1), upvotes=5
    )
    new = Paper(
        key="n", title="Graph networks B", abstract="x", published=dt.date(2026, 11, 21), upvotes=5
    )
    [picks] = rank(
        [old, new],
        [
            Profile(
                interests(
                    "graph networks",
                ),
                (),
                2,
            )
        ],
        now=now,
        weights=Weights(popularity=0, trending=0, freshness=1, diversity=0, semantic=0),
    )
    assert picks[0].paper is new
    moving = [Candidate(old, 1, upvote_delta=0), Candidate(new, 2, upvote_delta=40)]
    [picks] = rank(
        moving,
        [
            Profile(
                interests(
                    "graph networks",
                ),
                (),
                2,
            )
        ],
        weights=Weights(popularity=0, trending=1, freshness=0, diversity=0, semantic=0),
    )
    assert picks[0].paper is new
    # The movement rides on the pick (the email shows it once, beside the upvotes).
    assert picks[0].upvote_delta == 40 and picks[0].reasons == ("matches: graph networks",)


def test_all_subscribers_at_once_equals_one_at_a_time() -> None:
    profiles = [
        Profile(
            interests(
                "graph neural networks",
            ),
            ("survey",),
            2,
        ),
        Profile((Interest("language models", 2), Interest("quantization")), (), 3),
        Profile(interests(), (), 2),
        Profile(authors=("Nobody",), max_items=3),
        Profile(
            interests(
                "robot",
            ),
            (),
            1,
            min_score=0.1,
        ),
    ]
    ranker = Ranker(PAPERS, corpus=["unrelated text about cooking", "graph theory notes"])
    together = ranker.rank(profiles)
    alone = [ranker.rank([p])[0] for p in profiles]
    assert together == alone


def test_a_phrase_listed_twice_is_one_reason_at_its_larger_weight() -> None:
    papers = [_paper("Quantization of Language Models", "int4 robot"), _paper("Robot Folding")]
    twice = Profile(
        (Interest("robot", 1.0), Interest("quantization"), Interest("robot", 5.0)), (), 2
    )
    [picks] = rank(papers, [twice], weights=STILL)
    both = next(p for p in picks if p.paper.title.startswith("Quantization"))
    assert both.reasons[0] == "matches: robot, quantization"  # robot's weight is 5, not 1


def test_ties_across_readers_in_one_batch_keep_listing_order() -> None:
    # The shortlist sorts every reader's eligible papers in one pass: each reader's ties still
    # break by upvotes, then listing order, whatever the other readers are eligible for.
    twins = [_paper(f"Robot paper {i}", "robot", upvotes=i % 2) for i in range(6)]
    readers = [
        Profile(
            interests(
                "robot",
            ),
            (),
            6,
        ),
        Profile(exclude=("robot",)),
        Profile(
            interests(
                "robot",
            ),
            (),
            3,
        ),
    ]
    flat = Weights(popularity=0, trending=0, freshness=0, diversity=0, learned=0, semantic=0)
    first, nothing, third = rank(twins, readers, weights=flat)
    expected = [f"Robot paper {i}" for i in (1, 3, 5, 0, 2, 4)]
    assert [p.paper.title for p in first] == expected
    assert nothing == []
    assert [p.paper.title for p in third] == expected[:3]


def test_phrases_learned_side_by_side_score_as_learned_one_by_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The per-phrase SVMs train in threads; the scores and picks are those of one thread."""
    import random

    import numpy as np

    from digest.rank import corpus as corpus_module

    rng = random.Random(5)
    vocabulary = [
        "graph",
        "neural",
        "network",
        "language",
        "model",
        "robot",
        "policy",
        "vision",
        "diffusion",
    ]
    corpus = [" ".join(rng.choices(vocabulary, k=12)) for _ in range(300)]
    phrases = ["graph neural", "language model", "robot policy", "vision diffusion"]
    profiles = [Profile(interests(phrase), (), 3) for phrase in phrases]
    results = []
    for threads in (1, 4):
        monkeypatch.setattr(corpus_module, "LEARNING_THREADS", threads)
        ranker = Ranker(PAPERS, corpus=corpus)
        results.append((ranker.learned(phrases), ranker.rank(profiles)))
    (one, picks_one), (four, picks_four) = results
    assert np.array_equal(one, four) and one.any()
    assert picks_one == picks_four


def test_a_day_with_no_candidates_learns_phrases_without_failing() -> None:
    """`Ranker.learn` on a day with nothing new (a store of hundreds, no candidates) gives
    empty score columns; the per-phrase SVM used to be asked to score zero papers and raise."""
    corpus = [f"graph neural network {n} robot policy" for n in range(150)]
    corpus += [f"language model {n} diffusion vision" for n in range(150)]
    ranker = Ranker([], corpus=corpus)
    ranker.learn(["graph neural", "language model"])
    assert ranker.learned(["graph neural", "language model"]).shape == (0, 2)
    assert ranker.rank([Profile(interests("graph neural"), (), 3)]) == [[]]


@pytest.mark.integration
def test_ranking_logs_no_library_debug_lines_at_the_default_level() -> None:
    """bm25s sets its own logger to DEBUG on import: a daemon logging at INFO printed
    "DEBUG bm25s: Building index from tokens" on every ranking."""
    from .conftest import run_python

    code = (
        "import logging; logging.basicConfig(level=logging.INFO);"
        "from digest.rank import Ranker; from digest.models import Paper;"
        "Ranker([Paper('k', 'Graph networks', 'Graphs.')], corpus=['graphs and nets'] * 3)"
        ".rank([])"
    )
    done = run_python(code)
    assert "DEBUG" not in done.stderr, done.stderr


def test_a_liked_paper_the_store_holds_is_not_also_a_negative() -> None:
    """A reader's liked papers that the store also holds (a library of recent papers) are not
    negatives as well: a paper much like them still clears a bar (it fell to half of one)."""
    from digest.rank import document

    topics = ["protein folding", "galaxy surveys", "traffic flow", "soil bacteria", "opera"]
    corpus = [
        document(_paper(f"Study {n} of {topics[n % 5]}", f"We measure {topics[n % 5]} case {n}."))
        for n in range(150)
    ]
    liked = [
        _paper("Streaming speech recognition on a phone", "A small ASR encoder for speech."),
        _paper("Whisper distillation for speech", "Faster speech recognition by distillation."),
    ]
    candidates = [
        _paper("Low-latency speech recognition", "An ASR model that streams speech."),
        _paper("Speech tokenizers for music", "We compare audio codecs on speech and music."),
        _paper("Opera houses of Europe", "We count opera seats."),
    ]
    profile = Profile(liked=tuple(liked))
    apart = Ranker(candidates, corpus=corpus).liked(profile)[0]
    held = Ranker(candidates, corpus=[*corpus, *map(document, liked)]).liked(profile)[0]
    assert apart[0] > 1 and held[0] > 1  # in bar units
    assert held[0] > held[1] > held[2]
