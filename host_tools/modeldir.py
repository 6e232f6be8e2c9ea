"""Read and validate a model2vec model directory."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer


class ModelError(ValueError):
    """The model directory is malformed or uses something the format does not support."""


SUPPORTED = "supported: WordPiece model with BertNormalizer (any flags) and BertPreTokenizer"


@dataclass
class Model:
    """The parts of a model2vec model the converter needs."""

    tokenizer: Tokenizer
    tok_json: dict
    embeddings: np.ndarray
    weights: np.ndarray | None
    mapping: np.ndarray | None
    normalize: bool
    max_length: int | None


def _load_safetensors(path: Path) -> dict[str, np.ndarray]:
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return load_file(str(path))
    except (SafetensorError, OSError, ValueError) as e:
        raise ModelError(f"{path}: cannot read safetensors: {e}") from None


def load(folder: str | Path) -> Model:
    """Load ``config.json``, ``tokenizer.json`` and ``model.safetensors`` and check them."""
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelError(f"{folder}: not a directory")
    for name in ("tokenizer.json", "model.safetensors"):
        if not (folder / name).is_file():
            raise ModelError(f"{folder}: missing {name}")
    config: dict = {}
    if (folder / "config.json").is_file():
        try:
            config = json.loads((folder / "config.json").read_text())
        except (json.JSONDecodeError, UnicodeDecodeError) as e:
            raise ModelError(f"{folder / 'config.json'}: invalid JSON: {e}") from None
        if not isinstance(config, dict):
            raise ModelError(f"{folder / 'config.json'}: not a JSON object")
    try:
        text = (folder / "tokenizer.json").read_text()
        tok_json = json.loads(text)
        tokenizer = Tokenizer.from_str(text)
    except Exception as e:  # tokenizers raises its own exception type
        raise ModelError(f"{folder / 'tokenizer.json'}: cannot load tokenizer: {str(e).splitlines()[0]}") from None

    model_type = (tok_json.get("model") or {}).get("type")
    if model_type != "WordPiece":
        raise ModelError(f"unsupported tokenizer model {model_type!r}; {SUPPORTED}")
    norm = tok_json.get("normalizer")
    if norm is not None and norm.get("type") != "BertNormalizer":
        raise ModelError(f"unsupported normalizer {norm.get('type')!r}; {SUPPORTED}")
    pre = tok_json.get("pre_tokenizer")
    if pre is None or pre.get("type") != "BertPreTokenizer":
        raise ModelError(f"unsupported pre-tokenizer {pre and pre.get('type')!r}; {SUPPORTED}")
    for tok in tok_json.get("added_tokens", []):
        if tok.get("normalized") or tok.get("lstrip") or tok.get("rstrip") or tok.get("single_word"):
            raise ModelError(
                f"unsupported added token {tok.get('content')!r}: only normalized=false without "
                "lstrip/rstrip/single_word is supported"
            )

    tensors = _load_safetensors(folder / "model.safetensors")
    if "embeddings" not in tensors:
        raise ModelError(f"{folder / 'model.safetensors'}: no 'embeddings' tensor (has {sorted(tensors)})")
    emb = tensors["embeddings"]
    if emb.ndim != 2 or emb.shape[0] == 0 or emb.shape[1] == 0:
        raise ModelError(f"embeddings must be a non-empty 2-D matrix, got shape {emb.shape}")
    if emb.dtype not in (np.int8, np.float16, np.float32, np.float64) and emb.dtype.name != "bfloat16":
        raise ModelError(f"unsupported embedding dtype {emb.dtype}; supported: int8, float16, float32, float64")
    if emb.dtype != np.int8 and not np.isfinite(emb.astype(np.float64)).all():
        raise ModelError("embeddings contain NaN or infinite values")

    vocab_size = tokenizer.get_vocab_size(with_added_tokens=True)
    weights = tensors.get("weights")
    if weights is not None:
        if weights.ndim != 1 or len(weights) != vocab_size:
            raise ModelError(f"weights shape {weights.shape} does not match the vocabulary size {vocab_size}")
        if weights.dtype.kind not in "fiu":
            raise ModelError(f"unsupported weights dtype {weights.dtype}")
        weights = weights.astype(np.float64)
        if not np.isfinite(weights).all():
            raise ModelError("weights contain NaN or infinite values")
        if (weights < 0).any():
            raise ModelError("negative token weights are not supported")
    mapping = tensors.get("mapping")
    if mapping is not None:
        if mapping.ndim != 1 or len(mapping) != vocab_size:
            raise ModelError(f"mapping shape {mapping.shape} does not match the vocabulary size {vocab_size}")
        if mapping.dtype.kind not in "iu":
            raise ModelError(f"mapping must be integer, got {mapping.dtype}")
        mapping = mapping.astype(np.int64)
        if mapping.min() < 0 or mapping.max() >= emb.shape[0]:
            raise ModelError(
                f"mapping values span {mapping.min()}..{mapping.max()}, outside the {emb.shape[0]} embedding rows"
            )
    elif emb.shape[0] != vocab_size:
        raise ModelError(f"{emb.shape[0]} embedding rows but {vocab_size} tokens, and no mapping")

    max_length = config.get("max_length", 512)
    if max_length is not None and (not isinstance(max_length, int) or max_length <= 0):
        raise ModelError(f"config max_length must be a positive integer or null, got {max_length!r}")
    return Model(
        tokenizer=tokenizer,
        tok_json=tok_json,
        embeddings=emb,
        weights=weights,
        mapping=mapping,
        normalize=bool(config.get("normalize", False)),
        max_length=max_length,
    )
