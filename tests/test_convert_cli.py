"""``python -m host_tools convert`` / ``inspect``: success, options and clean failures."""

from __future__ import annotations

import json
import re
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import fields

import numpy as np
import pytest
from model2vec import StaticModel
from safetensors.numpy import save_file
from tokenizers import Tokenizer, models, pre_tokenizers

from host_tools import binfmt as bf
from host_tools import reference

SENTINEL = b"existing output: must survive a failed conversion\n"


# ------------------------------------------------------------------ success


def test_convert_default(cli_default_output, model_bin):
    proc, out = cli_default_output
    assert proc.returncode == 0, proc.stderr
    assert "Traceback" not in proc.stderr
    assert f"wrote {out}: {model_bin.stat().st_size} bytes" in proc.stderr
    assert out.read_bytes() == model_bin.read_bytes()


def test_inspect(cli, model_bin):
    proc = cli("inspect", model_bin)
    assert proc.returncode == 0 and proc.stderr == ""
    h, secs = bf.check(model_bin.read_bytes())
    text = proc.stdout
    assert text.startswith(f"{model_bin}: m2v format version 1, {h.file_size:,} bytes, CRC-32 {h.crc32:08x} (ok)")
    for f in fields(bf.Header):
        m = re.search(rf"^  {f.name} +(.+)$", text, re.M)
        assert m and m.group(1) == repr(getattr(h, f.name)), f.name
    listed = re.findall(r"^    (\w+) +offset +([\d,]+) +size +([\d,]+)", text, re.M)
    assert len(listed) == 13
    assert {name: (int(o.replace(",", "")), int(s.replace(",", ""))) for name, o, s in listed} == {
        bf.SECTION_NAMES[sid]: span for sid, span in secs.items()
    }


# ----------------------------------------------------------------- failures


def _tiny_bpe(d):
    tok = Tokenizer(models.BPE(vocab={"[UNK]": 0, "a": 1, "b": 2, "ab": 3}, merges=[("a", "b")], unk_token="[UNK]"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    tok.save(str(d / "tokenizer.json"))


def _tiny_unigram(d):
    tok = Tokenizer(models.Unigram([("<unk>", 0.0), ("a", -1.0), ("b", -2.0), ("ab", -1.5)], unk_id=0))
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.save(str(d / "tokenizer.json"))


def _tensors(**change):
    def edit(d, t):
        t = dict(t)
        for k, v in change.items():
            if v is None:
                del t[k]
            else:
                t[k] = v(t) if callable(v) else v
        save_file(t, str(d / "model.safetensors"))

    return edit


def _set(arr_key, index, value, dtype=None):
    def f(t):
        a = t[arr_key].astype(dtype or t[arr_key].dtype).copy()
        a[index] = value
        return a

    return f


def _config(**change):
    def edit(d, t):
        cfg = json.loads((d / "config.json").read_text())
        cfg.update(change)
        (d / "config.json").write_text(json.dumps(cfg))

    return edit


def _write(name, data: bytes):
    return lambda d, t: (d / name).write_bytes(data)


def _unlink(name):
    return lambda d, t: (d / name).unlink()


def _truncate_safetensors(d, t):
    p = d / "model.safetensors"
    p.write_bytes(p.read_bytes()[: p.stat().st_size // 2])


# name: (edit(dir, tensors) or None, extra CLI options, expected message)
FAILURES = {
    "missing dir": ("missing", [], r"not a directory"),
    "missing tokenizer.json": (_unlink("tokenizer.json"), [], r"missing tokenizer\.json"),
    "missing model.safetensors": (_unlink("model.safetensors"), [], r"missing model\.safetensors"),
    "BPE tokenizer": (lambda d, t: _tiny_bpe(d), [], r"unsupported tokenizer model 'BPE'"),
    "Unigram tokenizer": (lambda d, t: _tiny_unigram(d), [], r"unsupported tokenizer model 'Unigram'"),
    "tokenizer.json not JSON": (_write("tokenizer.json", b"{not json"), [], r"cannot load tokenizer"),
    "config.json not JSON": (_write("config.json", b"[1, 2"), [], r"invalid JSON"),
    "1-D embeddings": (_tensors(embeddings=lambda t: t["embeddings"].ravel()), [], r"2-D"),
    "mapping out of range": (_tensors(mapping=_set("mapping", 5, 2000)), [], r"mapping values span 0\.\.2000"),
    "negative mapping": (_tensors(mapping=_set("mapping", 5, -1)), [], r"mapping values span -1\.\."),
    "float mapping": (_tensors(mapping=lambda t: t["mapping"].astype(np.float32)), [], r"mapping must be integer"),
    "NaN weights": (_tensors(weights=_set("weights", 7, np.nan)), [], r"weights contain NaN"),
    "inf weights": (_tensors(weights=_set("weights", 7, np.inf)), [], r"weights contain NaN or infinite"),
    "negative weights": (_tensors(weights=_set("weights", 7, -0.5)), [], r"negative token weights"),
    "NaN embeddings": (
        _tensors(embeddings=_set("embeddings", (3, 4), np.nan, np.float16)),
        [],
        r"embeddings contain NaN",
    ),
    "rows != tokens without mapping": (_tensors(mapping=None), [], r"2000 embedding rows but 29525 tokens"),
    "weights length mismatch": (
        _tensors(weights=lambda t: t["weights"][:-1]),
        [],
        r"weights shape \(29524,\) does not match the vocabulary size 29525",
    ),
    "no embeddings tensor": (
        _tensors(vectors=lambda t: t["embeddings"], embeddings=None),
        [],
        r"no 'embeddings' tensor",
    ),
    "corrupt safetensors": (_write("model.safetensors", b"\xff" * 64 + b"garbage"), [], r"cannot read safetensors"),
    "truncated safetensors": (_truncate_safetensors, [], r"cannot read safetensors"),
    "max_length null": (_config(max_length=None), [], r"max_length is null"),
    "max_length not an integer": (_config(max_length="512"), [], r"max_length must be a positive integer"),
    "--max-length 0": (None, ["--max-length", "0"], r"max_length 0 outside"),
    "--dims 0": (None, ["--dims", "0"], r"--dims 0 outside 1\.\.256"),
    "--dims 257": (None, ["--dims", "257"], r"--dims 257 outside"),
    "--weight-bits 3": (None, ["--weight-bits", "3"], r"weight bits 3 outside"),
    "--centroids 30000": (None, ["--centroids", "30000"], r"--centroids 30000 is more than"),
}


def _make_case(name, root, model_dir, default_tensors):
    edit, opts, _ = FAILURES[name]
    case = root / re.sub(r"\W+", "_", name)
    case.mkdir()
    d = case / "model"
    if edit != "missing":
        shutil.copytree(model_dir, d)
        if edit is not None:
            edit(d, default_tensors)
    out = case / "out.m2v"
    out.write_bytes(SENTINEL)
    return d, out, opts


@pytest.fixture(scope="module")
def failures(tmp_path_factory, model_dir, default_tensors, cli):
    """Every failing case, run through the CLI (two at a time)."""
    root = tmp_path_factory.mktemp("failures")
    cases = {name: _make_case(name, root, model_dir, default_tensors) for name in FAILURES}

    def run(name):
        d, out, opts = cases[name]
        return name, cli("convert", d, "-o", out, *opts, timeout=120), out

    with ThreadPoolExecutor(max_workers=2) as pool:
        return {name: (proc, out) for name, proc, out in pool.map(run, FAILURES)}


@pytest.mark.parametrize("name", list(FAILURES))
def test_convert_failure(failures, name):
    proc, out = failures[name]
    lines = proc.stderr.splitlines()
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr + proc.stdout
    assert len(lines) == 1 and lines[0].startswith("error: "), proc.stderr
    assert re.search(FAILURES[name][2], lines[0]), lines[0]
    assert "normaliser tables" not in proc.stderr  # failed before the slow probing
    assert out.read_bytes() == SENTINEL


def test_failures_happen_before_probing(tmp_path, model_dir, default_tensors, monkeypatch):
    """Validation runs before the normaliser tables are probed, so every failure is fast."""
    from host_tools import convert as conv
    from host_tools import normtables
    from host_tools.modeldir import ModelError

    def no_probing(tok):
        raise AssertionError("normtables.build reached")

    monkeypatch.setattr(normtables, "build", no_probing)
    flags = {"--max-length": "max_length", "--dims": "dims", "--weight-bits": "weight_bits", "--centroids": "centroids"}
    for name in FAILURES:
        d, out, opts = _make_case(name, tmp_path, model_dir, default_tensors)
        kwargs = {flags[k]: int(v) for k, v in zip(opts[::2], opts[1::2])}
        with pytest.raises(ModelError, match=FAILURES[name][2]):
            conv.convert(d, out, **kwargs)
        assert out.read_bytes() == SENTINEL


@pytest.mark.parametrize(
    ("make", "match"),
    [(lambda p: p / "absent.m2v", "No such file"), (lambda p: p, "Is a directory"), ("corrupt", "CRC")],
)
def test_inspect_failure(cli, tmp_path, model_bin, make, match):
    if make == "corrupt":
        target = tmp_path / "bad.m2v"
        data = bytearray(model_bin.read_bytes())
        data[-1] ^= 1
        target.write_bytes(data)
    else:
        target = make(tmp_path)
    proc = cli("inspect", target)
    lines = proc.stderr.splitlines()
    assert proc.returncode != 0 and "Traceback" not in proc.stderr and proc.stdout == ""
    assert len(lines) == 1 and lines[0].startswith("error: ") and match in lines[0], proc.stderr


# ------------------------------------------------------------------ options


def _cosines(ref, m2v, texts):
    got = ref.embed_batch(texts).astype(np.float64)
    want = m2v.encode(texts, use_multiprocessing=False).astype(np.float64)
    keep = want.any(axis=1)
    assert np.array_equal(keep, got.any(axis=1))
    a, b = got[keep], want[keep]
    return (a * b).sum(axis=1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


def test_dims_128(cli, tmp_path, model_dir, corpus, report):
    out = tmp_path / "d128.m2v"
    proc = cli("convert", model_dir, "-o", out, "--dims", "128")
    assert proc.returncode == 0, proc.stderr
    ref = reference.load(out)
    h = ref.header
    assert (h.dims, h.n_centroids, h.norm_bits) == (128, 2000, bf.norm_bits_for(128))
    assert ref.sections[bf.CENTROIDS][1] == 2000 * 128
    cos = _cosines(ref, StaticModel.from_pretrained(model_dir, dimensionality=128), corpus)
    report("cosine: --dims 128 vs model2vec dimensionality=128", f"mean {cos.mean():.7f}, min {cos.min():.7f}")
    report("size: --dims 128 binary (bytes)", f"{out.stat().st_size:,}")
    assert cos.mean() >= 0.999 and cos.min() >= 0.99


@pytest.fixture(scope="module")
def centroids_500(tmp_path_factory, cli, model_dir):
    pytest.importorskip("sklearn")
    out = tmp_path_factory.mktemp("c500") / "c500.m2v"
    proc = cli("convert", model_dir, "-o", out, "--centroids", "500")
    assert proc.returncode == 0, proc.stderr
    return out


@pytest.mark.slow  # k-means of 29,525 vectors: ~20 s
def test_centroids_500(centroids_500, report):
    ref = reference.load(centroids_500)
    h = ref.header
    assert (h.n_centroids, h.map_bits, h.dims) == (500, 9, 256)
    assert ref.sections[bf.CENTROIDS][1] == 500 * 256
    assert {row for _, row, _ in ref.vocab.values()} <= set(range(500))
    report("size: --centroids 500 binary (bytes)", f"{centroids_500.stat().st_size:,}")


@pytest.mark.slow
def test_centroids_500_matches_model2vec(centroids_500, tmp_path, model_dir, default_tensors, corpus, report):
    """model2vec's own vocabulary quantisation of the same per-token rows gives the same embeddings.

    The k-means labels agree exactly; what is left is the int8 rounding of 500
    float centroids (per-row scales), hence a mean bound of 0.9998.
    """
    t = default_tensors
    d = tmp_path / "per_token"
    shutil.copytree(model_dir, d)
    rows = t["embeddings"].astype(np.float32)[t["mapping"]]
    save_file({"embeddings": rows, "weights": t["weights"]}, str(d / "model.safetensors"))
    m2v = StaticModel.from_pretrained(d, vocabulary_quantization=500)
    cos = _cosines(reference.load(centroids_500), m2v, corpus)
    report(
        "cosine: --centroids 500 vs model2vec vocabulary_quantization=500",
        f"mean {cos.mean():.7f}, min {cos.min():.7f}",
    )
    assert cos.mean() >= 0.9998 and cos.min() >= 0.999
