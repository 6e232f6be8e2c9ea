"""A float32 model without ``weights`` and ``mapping`` (one row per token, plain mean) converts and matches model2vec."""

from __future__ import annotations

import shutil

import numpy as np
from model2vec import StaticModel
from safetensors.numpy import load_file, save_file
from truth import MODEL_DIR, corpus

from host_tools import reference
from host_tools.convert import convert


def test_float32_without_weights_or_mapping(tmp_path):
    t = load_file(str(MODEL_DIR / "model.safetensors"))
    rng = np.random.default_rng(5)
    rows = t["embeddings"].astype(np.float32)[t["mapping"]] * t["weights"][:, None].astype(np.float32)
    rows += rng.normal(0, 0.5, rows.shape).astype(np.float32)
    save_file({"embeddings": rows}, str(tmp_path / "model.safetensors"))
    for name in ("config.json", "tokenizer.json"):
        shutil.copy(MODEL_DIR / name, tmp_path / name)
    convert(tmp_path, tmp_path / "model.m2v")
    ref = reference.load(tmp_path / "model.m2v")
    m2v = StaticModel.from_pretrained(str(tmp_path))
    assert m2v.weights is None and m2v.token_mapping is None
    texts = corpus()[::8]
    want = m2v.encode(texts)
    cos = []
    for text, w in zip(texts, want):
        got = ref.embed(text).astype(np.float64)
        if not w.any():
            assert not got.any()
            continue
        cos.append(float(got @ w / np.linalg.norm(got) / np.linalg.norm(w)))
    cos = np.array(cos)
    print(f"\nfloat32, no weights, no mapping: mean {cos.mean():.7f}, min {cos.min():.7f} over {len(cos)} texts")
    assert cos.mean() >= 0.9999 and cos.min() >= 0.999
