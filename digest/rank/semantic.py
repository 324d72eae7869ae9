"""Optional semantic similarity (`pip install 'digest[embeddings]'`): WordLlama word-embedding
averages, whose weights ship inside the package: nothing is ever downloaded at run time.

Used only where `digest eval` showed it helps: each interest phrase's cosine similarity to the
day's papers, as z-scores over those papers, reorders the papers that cleared a bar (keywords
nDCG@10 0.561 → 0.577 on every third arXiv day). Without the extra, ranking stays lexical.
"""

from __future__ import annotations

import functools
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np


@functools.cache
def wordllama_model() -> Any | None:
    """The bundled WordLlama model, or None when the extra is not installed."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        import wordllama
        from wordllama import WordLlama
    except ImportError:
        return None
    finally:
        # wordllama calls logging.basicConfig on import: digest's output is not its to set.
        for handler in root.handlers[:]:
            if handler not in handlers:
                root.removeHandler(handler)
        root.setLevel(level)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    # The loader looks for its tokenizer in a cache folder, not beside the bundled weights: a
    # private folder that links to the file the wheel ships, gone once the model is loaded
    # (it was left behind in the temporary folder by every process that ranked).
    shipped = Path(wordllama.__file__).parent / "tokenizers"
    with tempfile.TemporaryDirectory(prefix="digest-wordllama-") as folder:
        cache = Path(folder)
        (cache / "tokenizers").mkdir()
        for config in shipped.glob("*.json"):
            (cache / "tokenizers" / config.name).symlink_to(config)
        try:
            return WordLlama.load(cache_dir=cache, disable_download=True)
        except (OSError, ValueError):
            return None


def available() -> bool:
    return wordllama_model() is not None


def embed(texts: Sequence[str]) -> np.ndarray | None:
    """Unit-length embeddings, one row per text, or None without the extra."""
    model = wordllama_model()
    if model is None:
        return None
    return np.asarray(model.embed(list(texts), norm=True), dtype=np.float64)


def similarity_z(papers: np.ndarray, phrases: np.ndarray) -> np.ndarray:
    """papers × phrases: cosine similarity as z-scores over the papers (per phrase)."""
    similarity = papers @ phrases.T
    spread = similarity.std(axis=0)
    z: np.ndarray = (similarity - similarity.mean(axis=0)) / np.where(spread > 0, spread, 1.0)
    return z
