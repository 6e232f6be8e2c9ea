"""Classifier files on the host: the ``classifier`` command, the format, quantisation bounds, model2vec heads."""

from __future__ import annotations

import json
import math
import shutil
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from host_tools import classifier as hc
from host_tools import index as hindex

ROOT = Path(__file__).resolve().parent.parent
EX = ROOT / "examples" / "smart_home"
SENTINEL = b"previous output\n"


@pytest.fixture(scope="module")
def items():
    return hindex.read_items(EX / "intents.jsonl", need_label=True)


@pytest.fixture(scope="module")
def held():
    return hindex.read_items(EX / "heldout.jsonl", need_label=True)


@pytest.fixture(scope="module")
def ood() -> list[str]:
    return [json.loads(line)["text"] for line in (EX / "out_of_domain.jsonl").read_text().splitlines() if line]


@pytest.fixture(scope="module")
def small(ref, items) -> bytes:
    return hc.train(ref, items, c=30.0, reject=0.1)


def test_cli_trains_tests_and_rejects(tmp_path, cli, model_bin):
    out = tmp_path / "a" / "clf.m2vc"
    proc = cli("classifier", model_bin, EX / "intents.jsonl", "-o", out, "--test", EX / "heldout.jsonl", "--reject")
    assert proc.returncode == 0, proc.stderr
    err = proc.stderr
    assert "C = 30: cross-validated log-loss" in err and "logistic regression: 325 texts, 13 labels" in err
    assert "reject threshold: logit" in err and "held-out accuracy: " in err and "with rejection: " in err
    assert f"wrote {out}: 13 classes, 256 dims" in err
    clf = hc.Classifier(out, model=model_bin)
    assert clf.threshold is not None and clf.labels == sorted(
        {lab for lab, _ in hindex.read_items(EX / "intents.jsonl")}
    )
    assert clf.predict("switch off all the lights")[0] == "lights_off"
    assert not [p for p in out.parent.iterdir() if p.name != "clf.m2vc"]  # no temp file left


@pytest.mark.parametrize(
    "content, name, extra, message",
    [
        (None, "missing.jsonl", [], "no such file"),
        (b"", "e.jsonl", [], "no texts"),
        (b"turn on the lights\n", "t.txt", [], 't.txt:1: expected JSONL objects with "label" and "text"'),
        (b'{"label": "a", "text": "x"}\n{"text": "y"}\n', "j.jsonl", [], 'j.jsonl:2: no "label"'),
        (b'{"label": "a", "text": "x"}\n{oops\n', "j.jsonl", [], "j.jsonl:2: invalid JSON"),
        (b'{"label": "a", "text": "x"}\n{"label": "a", "text": "y"}\n', "j.jsonl", [], "at least 2 labels"),
        (b'{"label": "a", "text": "x"}\n{"label": "b", "text": "y"}\n', "j.jsonl", ["--reject"], "2 texts per label"),
        (b'{"label": "a", "text": "x"}\n{"label": "b", "text": "y"}\n', "j.jsonl", ["--reject", "1.5"], "fraction"),
        (b'{"label": "a", "text": "x"}\n{"label": "b", "text": "y"}\n', "j.jsonl", ["--test", "nope.jsonl"], "no such"),
    ],
)
def test_cli_bad_input_one_line_error(tmp_path, cli, model_bin, content, name, extra, message):
    src = tmp_path / name
    if content is not None:
        src.write_bytes(content)
    out = tmp_path / "out.m2vc"
    out.write_bytes(SENTINEL)
    proc = cli("classifier", model_bin, src, "-o", out, *extra)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith("error: ") and message in proc.stderr, proc.stderr
    assert proc.stderr.count("\n") == 1 and "Traceback" not in proc.stderr
    assert out.read_bytes() == SENTINEL  # untouched


def test_cli_unknown_test_labels_and_bad_model(tmp_path, cli, model_bin):
    train = tmp_path / "t.jsonl"
    train.write_text('{"label": "a", "text": "lights on"}\n{"label": "b", "text": "music off"}\n')
    test = tmp_path / "h.jsonl"
    test.write_text('{"label": "zzz", "text": "lights on"}\n')
    out = tmp_path / "o.m2vc"
    proc = cli("classifier", model_bin, train, "-o", out, "--test", test)
    assert proc.returncode == 2 and "labels the classifier does not know: zzz" in proc.stderr and not out.exists()
    bad = tmp_path / "m.m2v"
    bad.write_bytes(b"nope" * 40)
    proc = cli("classifier", bad, train, "-o", out)
    assert proc.returncode == 2 and proc.stderr.startswith("error: not an m2v model") and not out.exists()


def test_header_layout(small, ref):
    h = hc.parse_header(small)
    assert small[:4] == b"M2VC" and struct.unpack_from("<HH", small, 4) == (1, 64)
    assert h.file_size == len(small) and h.crc32 == zlib.crc32(small[16:])
    assert (h.dims, h.n_classes, h.out_shift, h.flags) == (256, 13, 14, hc.FLAG_REJECT)
    assert h.model_crc32 == ref.header.crc32
    assert struct.unpack_from("<H", small, 54)[0] == h.dims + 2
    for off in (h.weights_off, h.bias_off, h.label_offs_off, h.labels_off):
        assert off % 4 == 0
    assert len(small) == 64 + 13 * 258 + 2 + 13 * 4 + 14 * 4 + h.labels_size + (-h.labels_size % 4)


def test_deterministic(ref, items):
    assert hc.train(ref, items[::3], c=3.0) == hc.train(ref, items[::3], c=3.0)


@pytest.mark.parametrize(
    "mutate, message",
    [
        (lambda b: b[:-4], "truncated m2v classifier"),
        (lambda b: b + b"\0\0\0\0", "trailing data"),
        (lambda b: b"M2VB" + b[4:], "bad magic"),
        (lambda b: b[:4] + b"\x02\x00" + b[6:], "unsupported m2v classifier version 2"),
        (lambda b: b[:200] + bytes([b[200] ^ 1]) + b[201:], "CRC-32 mismatch"),
        (lambda b: b[:30], "shorter than the 64-byte header"),
        (lambda b: b[:36] + struct.pack("<I", 2) + b[40:], "bad section offsets"),
        (lambda b: b[:16] + struct.pack("<H", 255) + b[18:], "inconsistent header fields"),
    ],
)
def test_corrupt_files_rejected(small, mutate, message):
    with pytest.raises(ValueError, match=message):
        hc.Classifier(mutate(small))


def _split_score(dot: int, m: int, bias: int) -> int:
    """The board's formula (FORMAT.md, classifier §4) in Python integers."""
    return bias + (dot >> 15) * m + (((dot & 0x7FFF) * m) >> 15)


def test_scores_equal_the_board_formula_and_the_float_head(small, ref, items, held, report):
    """numpy scores equal the split-product formula; int logits stay within 0.05 of the float head's."""
    clf = hc.Classifier(small, model=ref)
    vecs = ref.embed_batch([t for _, t in held]).astype(np.int64)
    s = clf.scores_batch(vecs)
    for q, row in zip(vecs[:20], s[:20]):
        for c in range(clf.n_classes):
            assert row[c] == _split_score(int(q @ clf.rows[c]), int(clf.mults[c]), int(clf.bias[c]))
    y = np.array([lab for lab, _ in items])
    x = ref.embed_batch([t for _, t in items]) / 2.0**14
    head = hc._fit(x, y, 30.0)
    z = (vecs / 2.0**14) @ head.weights.T + head.bias
    err = np.abs(s * 2.0**-clf.header.score_shift - z)
    agree = (s.argmax(axis=1) == z.argmax(axis=1)).mean()
    report(
        "classifier int8 vs float head", f"logit error max {err.max():.4f}, mean {err.mean():.4f}; top-1 {agree:.1%}"
    )
    assert err.max() < 0.05 and agree >= 0.98
    assert abs(z.sum(axis=1)).max() < 1e-6  # centred: the logits sum to zero over the classes


def test_quantisation_bounds():
    """score_shift respects mult <= 32767 and |bias| <= 2**28; any Q14 unit vector passes the L1 check."""
    rng = np.random.default_rng(1)
    for scale, bscale in ((0.01, 0.01), (1.0, 1.0), (300.0, 5.0), (1.0, 900.0)):
        head = hc.Head([str(i) for i in range(5)], rng.normal(0, scale, (5, 64)), rng.normal(0, bscale, 5))
        rows, mult, bias, s = hc.quantize(head, np.zeros(64))
        assert 0 <= s <= 30 and mult.max() <= hc.MULT_MAX and np.abs(bias.astype(np.int64)).max() <= hc.BIAS_MAX
        assert np.abs(rows.astype(np.int64)).max() == 127
    for d in (1, 256, 4096):  # the worst case: |bias| = 2**28
        l1 = math.isqrt(d * 16417 * 16417) + 1
        assert l1 <= hc.l1_limit(hc.BIAS_MAX)
        assert 127 * hc.l1_limit(hc.BIAS_MAX) + hc.SLACK + hc.BIAS_MAX < 2**30
    with pytest.raises(ValueError, match="too large to quantise"):
        hc.quantize(hc.Head(["a", "b"], np.ones((2, 4)), np.array([3e8, -3e8])), np.zeros(4))
    with pytest.raises(ValueError, match="not finite"):
        hc.quantize(hc.Head(["a", "b"], np.full((2, 4), np.nan), np.zeros(2)), np.zeros(4))


def test_predict_rejects_below_threshold(small, ref):
    clf = hc.Classifier(small, model=ref)
    scores = clf.scores("tell me a joke")
    top = max(s for _, s in scores)
    label, score = clf.predict("tell me a joke")
    assert score == top and (label is None) == (top < clf.threshold)
    assert [lab for lab, _ in scores] == clf.labels
    lab, s = clf.predict("turn the bedroom lights off")
    assert lab == "lights_off" and s >= clf.threshold


def test_model_mismatch_refused(small, model_bin):
    data = bytearray(small)
    struct.pack_into("<I", data, 24, 0x12345678)
    struct.pack_into("<I", data, 12, zlib.crc32(data[16:]))
    clf = hc.Classifier(bytes(data), model=model_bin)
    assert clf.predict([0] * 256)[1] == hc.Classifier(small).predict([0] * 256)[1]  # vectors need no model
    with pytest.raises(ValueError, match="the classifier was built with model crc32 12345678"):
        clf.predict("lamp on")


def test_smart_home_classifier_beats_the_index(ref, items, held, ood, report):
    """Held-out accuracy >= the index's top-1; most out-of-domain phrasings rejected; in-domain kept."""
    clf = hc.Classifier(hc.train(ref, items, reject=0.1), model=ref)
    idx = hindex.Index(hindex.build_index(ref, items), model=ref)
    want = [lab for lab, _ in held]
    i_top = [idx.label(r[0][1]) for r in idx.search_ids_batch([t for _, t in held], 1)]
    i_acc = np.mean([a == b for a, b in zip(i_top, want)])
    a = hc.accuracy(clf, held)
    so = clf.scores_batch(ref.embed_batch(ood).astype(np.int64)).max(axis=1)
    ood_rej = float((so < clf.threshold).mean())
    report("smart_home held-out top-1", f"classifier {a['accuracy']:.1%}, index {i_acc:.1%} ({len(held)} phrasings)")
    report(
        "smart_home rejection",
        f"out-of-domain {ood_rej:.1%} of {len(ood)} rejected; in-domain {a['rejected']:.1%} rejected, "
        f"{a['accepted_accuracy']:.1%} of the accepted correct, {a['correct_and_accepted']:.1%} correct and accepted",
    )
    assert a["accuracy"] >= i_acc
    assert ood_rej > 0.5 and a["rejected"] < 0.15 and a["accepted_accuracy"] >= a["accuracy"] - 0.02


# ------------------------------------------------------------------ model2vec's saved classifier
def _pipeline(tmp: Path, model_dir: Path, head: hc.Head, layers: int = 1, act: str = "softmax") -> Path:
    from safetensors.numpy import save_file

    d = tmp / "pipe"
    shutil.copytree(model_dir, d)
    config = json.loads((d / "config.json").read_text())
    config["head_config"] = {"n_layers": layers, "activation": act, "classes": head.labels}
    (d / "config.json").write_text(json.dumps(config))
    tensors = {"head.0.weight": head.weights.astype(np.float32), "head.0.bias": head.bias.astype(np.float32)}
    for i in range(1, layers):
        tensors[f"head.{i}.weight"] = np.eye(len(head.labels), dtype=np.float32)
        tensors[f"head.{i}.bias"] = np.zeros(len(head.labels), dtype=np.float32)
    save_file(tensors, str(d / "head.safetensors"))
    return d


def test_from_model2vec_linear_head(tmp_path, cli, model_dir, model_bin, ref, items, held, report):
    """A model2vec pipeline with one linear softmax layer converts; it agrees with model2vec's own predict."""
    from model2vec.inference import StaticModelPipeline

    y = np.array([lab for lab, _ in items])
    head = hc._fit(ref.embed_batch([t for _, t in items]) / 2.0**14, y, 30.0)
    pipe = _pipeline(tmp_path, model_dir, hc.Head(head.labels, head.weights + 0.5, head.bias + 1.0))
    out = tmp_path / "m.m2vc"
    proc = cli("classifier", model_bin, EX / "intents.jsonl", "-o", out, "--from-model2vec", pipe, "--reject")
    assert proc.returncode == 0, proc.stderr
    clf = hc.Classifier(out, model=ref)
    assert clf.threshold is not None and clf.labels == head.labels
    texts = [t for _, t in held]
    theirs = StaticModelPipeline.from_pretrained(pipe).predict(texts, use_multiprocessing=False)
    ours = np.array(clf.labels)[clf.scores_batch(ref.embed_batch(texts).astype(np.int64)).argmax(axis=1)]
    report("--from-model2vec vs StaticModelPipeline.predict", f"{(ours == theirs).mean():.1%} of {len(texts)} texts")
    assert (ours == theirs).mean() >= 0.95


@pytest.mark.parametrize(
    "layers, act, message",
    [(2, "softmax", "the head has 2 linear layers; this format holds one"), (1, "sigmoid", "only single-label")],
)
def test_from_model2vec_unsupported_heads(tmp_path, cli, model_dir, model_bin, layers, act, message):
    head = hc.Head(["a", "b"], np.ones((2, 256)), np.zeros(2))
    pipe = _pipeline(tmp_path, model_dir, head, layers, act)
    proc = cli("classifier", model_bin, "-o", tmp_path / "o.m2vc", "--from-model2vec", pipe)
    assert proc.returncode == 2 and message in proc.stderr and proc.stderr.count("\n") == 1
    proc = cli("classifier", model_bin, "-o", tmp_path / "o.m2vc", "--from-model2vec", tmp_path)
    assert proc.returncode == 2 and "not a model2vec classifier (config.json missing)" in proc.stderr
