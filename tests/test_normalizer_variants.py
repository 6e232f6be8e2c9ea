"""Every BertNormalizer flag combination converts and tokenises exactly like ``tokenizers``.

The default model is re-targeted with other normaliser flags (same vocabulary
and vectors), converted, and the reference's token ids are compared with the
ground truth over a sample of the corpus, of all code points, fuzz and long
texts. The full code point sweep for every variant is in the slow suite.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from mpy import run_device
from truth import MODEL_DIR, Truth, codepoint_texts, corpus, fuzz_texts, long_texts

from host_tools import reference
from host_tools.convert import convert

VARIANTS = {
    "cased": {"lowercase": False, "strip_accents": None},
    "lowercase_keep_accents": {"lowercase": True, "strip_accents": False},
    "cased_strip_accents": {"lowercase": False, "strip_accents": True},
    "no_clean_text": {"clean_text": False},
    "no_chinese_chars": {"handle_chinese_chars": False},
}


DEVICE_VARIANTS = ["cased", "no_clean_text"]  # the device check runs on two of them
_BUILT: dict[str, tuple] = {}  # variant name -> what the fixtures give (each converted once)


def _build(name: str, tmp_path_factory) -> tuple:
    if name not in _BUILT:
        d = tmp_path_factory.mktemp(name)
        for f in ("config.json", "model.safetensors"):
            shutil.copy(MODEL_DIR / f, d / f)
        tok = json.loads((MODEL_DIR / "tokenizer.json").read_text())
        tok["normalizer"].update(VARIANTS[name])
        (d / "tokenizer.json").write_text(json.dumps(tok, ensure_ascii=False))
        convert(d, d / "model.m2v")
        _BUILT[name] = (name, reference.load(d / "model.m2v"), Truth(d), d / "model.m2v")
    return _BUILT[name]


@pytest.fixture(scope="module", params=sorted(VARIANTS))
def variant(request, tmp_path_factory):
    return _build(request.param, tmp_path_factory)


@pytest.fixture(scope="module", params=DEVICE_VARIANTS)
def device_variant(request, tmp_path_factory):
    return _build(request.param, tmp_path_factory)


def _mismatches(ref, truth, texts):
    want = truth.ids(texts)
    return [i for i, (t, w) in enumerate(zip(texts, want)) if ref.tokenize(t) != w]


def test_variant_parity(variant):
    name, ref, truth, _ = variant
    texts = corpus()[::10] + codepoint_texts(step=7) + fuzz_texts(300, seed=11) + long_texts()
    texts += ["\x00a\x01b\x02c \x7f", "ÀÉÎÕÜ àéîõü İstanbul ΣΑΣ ς", "中文 字 豈 一二三"]
    bad = _mismatches(ref, truth, texts)
    print(f"\n{name}: {len(texts)} texts, {len(bad)} mismatches")
    assert not bad, [(texts[i][:60], ref.tokenize(texts[i])[:10], truth.ids([texts[i]])[0][:10]) for i in bad[:3]]


@pytest.mark.parametrize("impl", ["native", "py"])
def test_variant_on_device(device_variant, impl):
    """The device package reads the variant's tables: ids and vectors equal the reference."""
    name, ref, truth, path = device_variant
    texts = corpus()[::60] + fuzz_texts(80, seed=13) + ["\x00a\x01b\x02c \x7f", "ÀÉÎÕÜ àéîõü İstanbul ΣΑΣ"]
    got = run_device(texts, mode="rom", impl=impl, model=path)
    want = truth.ids(texts)
    bad = [i for i, (g, t, w) in enumerate(zip(got, texts, want)) if g[0] != w or not np.array_equal(g[1], ref.embed(t))]
    assert not bad, [texts[i][:60] for i in bad[:3]]


@pytest.mark.slow
def test_variant_every_codepoint(variant):
    name, ref, truth, _ = variant
    assert not _mismatches(ref, truth, codepoint_texts())
