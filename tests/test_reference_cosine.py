"""Embedding parity: the reference's integer Q14 vectors against model2vec's float ``encode``.

Three models: the committed default (int8 centroids, token mapping, float64
weights), a float16 model with one row per token and float32 weights (the
converter's per-row int8 scales), and the default shape with arbitrary
per-token weights (the weight codebook).
"""

from __future__ import annotations

import numpy as np
import pytest
from model2vec import StaticModel

from host_tools import reference
from host_tools.binfmt import CENTROIDS


def cosine_parity(ref, m2v: StaticModel, texts: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """Cosines over texts model2vec embeds as non-zero, and the mask of texts it returns zeros for.

    Asserts that the reference returns all zeros for exactly those texts.
    """
    got = ref.embed_batch(texts).astype(np.float64)
    want = m2v.encode(texts, use_multiprocessing=False).astype(np.float64)
    assert got.shape == want.shape
    zero = ~want.any(axis=1)
    ref_zero = ~got.any(axis=1)
    assert np.array_equal(zero, ref_zero), (
        f"zero vectors differ: model2vec {zero.sum()}, reference {ref_zero.sum()}, "
        f"e.g. {[texts[i][:40] for i in np.flatnonzero(zero != ref_zero)[:5]]}"
    )
    a, b = got[~zero], want[~zero]
    cos = (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    return cos, zero


def check_model(ref, m2v, texts, label, report, mean_min=0.9999, min_min=0.999):
    cos, zero = cosine_parity(ref, m2v, texts)
    worst = texts[np.flatnonzero(~zero)[cos.argmin()]]
    figures = f"mean {cos.mean():.7f}, min {cos.min():.7f} over {len(cos):,} texts ({zero.sum()} zero vectors skipped)"
    report(f"cosine: {label}", figures)
    assert cos.mean() >= mean_min and cos.min() >= min_min, f"{label}: {figures}; worst text {worst[:80]!r}"
    # The unit vectors are unit vectors in Q14.
    q = ref.embed_batch(texts[:500]).astype(np.float64)
    norms = np.linalg.norm(q[q.any(axis=1)], axis=1) / (1 << ref.header.out_shift)
    assert np.allclose(norms, 1.0, atol=2e-3)


def test_default_model(ref, m2v, corpus, report):
    check_model(ref, m2v, corpus, "default model vs model2vec", report)


def test_float16_model(f16_model, default_tensors, corpus, report):
    d, out = f16_model
    m2v = StaticModel.from_pretrained(d)
    assert m2v.embedding.dtype == np.float16 and m2v.token_mapping is None
    assert m2v.weights is not None and m2v.weights.dtype == np.float32
    ref = reference.load(out)
    n_tokens = len(default_tensors["mapping"])
    assert ref.header.n_centroids == n_tokens and ref.header.dims == 256
    assert ref.sections[CENTROIDS][1] == n_tokens * 256
    report("size: float16 model binary (bytes)", f"{out.stat().st_size:,}")
    check_model(ref, m2v, corpus, "float16 model vs model2vec", report)


def test_arbitrary_weights_model(weights_model, corpus, report):
    d, out = weights_model
    check_model(
        reference.load(out), StaticModel.from_pretrained(d), corpus, "arbitrary-weights model vs model2vec", report
    )


@pytest.mark.parametrize("pairs", [400])
def test_integer_similarity(ref, m2v, corpus, pairs):
    """``similarity(a, b) / 2**28`` is model2vec's cosine of the two texts (FORMAT.md: ±0.2 % plus model error)."""
    rng = np.random.default_rng(3)
    idx = rng.choice(len(corpus), size=(pairs, 2))
    texts = [corpus[i] for i in idx.ravel()]
    q = ref.embed_batch(texts)
    f = m2v.encode(texts, use_multiprocessing=False).astype(np.float64)
    for k in range(pairs):
        a, b = q[2 * k], q[2 * k + 1]
        fa, fb = f[2 * k], f[2 * k + 1]
        if not a.any() or not b.any():
            continue
        assert abs(ref.similarity(a, b) / 2**28 - float(fa @ fb)) < 5e-3
