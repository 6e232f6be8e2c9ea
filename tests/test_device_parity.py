"""The device package on the real MicroPython unix port: token ids equal ``tokenizers``', vectors equal the reference.

ROMFS mode (the model read in place from a mounted ROMFS image) runs
everything, with the two kinds of the hot paths (``m2v.use``): ``native`` (the
C core, device/native, as the x64 build of the package carries it) and ``py``
(the pure-Python twins, bit-identical); file mode (the model streamed through the page cache) runs a
sample in ``make test`` and everything under ``-m slow``; so does file mode
with the tokenizer's tables read into RAM (``ram=``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from mpy import MODEL, run_device
from truth import Truth, codepoint_texts, corpus, fuzz_texts, long_texts

from host_tools import reference


@pytest.fixture(scope="module")
def ref():
    return reference.load(MODEL)


@pytest.fixture(scope="module")
def truth():
    return Truth()


def check(texts: list[str], mode: str, impl: str, ref, truth, model: Path = MODEL) -> dict[str, int]:
    got = run_device(texts, mode=mode, impl=impl, model=model)
    want_ids = truth.ids(texts)
    errors = [g for g in got if isinstance(g, str)]
    assert not errors, errors[:3]
    id_bad = [i for i, (g, w) in enumerate(zip(got, want_ids)) if g[0] != w]
    vec_bad = [i for i, (g, t) in enumerate(zip(got, texts)) if not np.array_equal(g[1], ref.embed(t))]
    figures = {"texts": len(texts), "id_mismatches": len(id_bad), "vector_mismatches": len(vec_bad)}
    print(f"\n{mode}/{impl}: {figures}")
    assert not id_bad, [(texts[i][:80], got[i][0][:20], want_ids[i][:20]) for i in id_bad[:3]]
    assert not vec_bad, [texts[i][:80] for i in vec_bad[:3]]
    return figures


@pytest.mark.parametrize("impl", ["native", "py"])
def test_corpus_romfs(ref, truth, impl):
    check(corpus(), "rom", impl, ref, truth)


@pytest.mark.parametrize("impl", ["native", "py"])
def test_codepoints_romfs_sample(ref, truth, impl):
    check(codepoint_texts(step=3), "rom", impl, ref, truth)


@pytest.mark.slow
def test_codepoints_romfs_all(ref, truth):
    check(codepoint_texts(), "rom", "native", ref, truth)


@pytest.mark.parametrize("impl", ["native", "py"])
def test_fuzz_and_long_romfs(ref, truth, impl):
    check(fuzz_texts(1500) + long_texts() + ["word " * 200_000], "rom", impl, ref, truth)


@pytest.mark.parametrize("impl", ["native", "py"])
def test_file_mode_sample(ref, truth, impl):
    # ram=0: every table through the 8-page cache (the C tokenizer reads its pages itself)
    texts = corpus()[::40] + codepoint_texts(step=47) + fuzz_texts(100, seed=7) + long_texts()
    check(texts, "file", impl, ref, truth)


@pytest.mark.parametrize("impl", ["native", "py"])
def test_file_mode_part_of_the_tables_in_ram_sample(ref, truth, impl):
    # a budget below the tables: the trie's bit vector and samples in RAM, NODES and the normaliser's
    # runs through the cache (both kinds read both: buffers and file sections)
    texts = corpus()[5::60] + codepoint_texts(step=61) + fuzz_texts(60, seed=17)
    check(texts, "filepart", impl, ref, truth)


@pytest.mark.parametrize("impl", ["native", "py"])
def test_file_mode_tables_in_ram_sample(ref, truth, impl):
    # file mode with ram=: the tokenizer on RAM copies of its tables, the records and rows streamed
    texts = corpus()[3::40] + codepoint_texts(step=53) + fuzz_texts(100, seed=11) + long_texts()
    check(texts, "fileram", impl, ref, truth)


def four_byte_samples(model, out):
    """The same model with its rank/select samples stored 4 bytes wide (``sample_bytes`` 4, as a big vocabulary needs)."""
    import struct

    from host_tools import binfmt as bf

    buf = model.read_bytes()
    h, secs = bf.check(buf)
    sections = {sid: buf[o : o + n] for sid, (o, n) in secs.items()}
    for sid in (bf.HRANK, bf.GSTART, bf.TRANK):
        v = struct.unpack(f"<{len(sections[sid]) // 2}H", sections[sid])
        sections[sid] = struct.pack(f"<{len(v)}I", *v)
    h.sample_bytes = 4
    out.write_bytes(bf.assemble(h, sections))
    return out


@pytest.mark.parametrize("mode", ["rom", "file", "fileram"])
def test_four_byte_samples(ref, truth, mode, tmp_path):
    # the 4-byte branches of every rank/select read (_tok_py.py, the C core)
    model = four_byte_samples(MODEL, tmp_path / "wide.m2v")
    texts = corpus()[7::97] + fuzz_texts(40, seed=13)
    for impl in ("native", "py"):
        check(texts, mode, impl, ref, truth, model)


def test_pure_python_pooling_sample(ref, truth):
    check(corpus()[5::40] + fuzz_texts(50, seed=9) + long_texts(), "rom", "py", ref, truth)


@pytest.mark.parametrize("impl", ["native", "py"])
def test_empty_and_whitespace_give_zero_vector(ref, truth, impl):
    got = run_device(["", "   ", "\t\n", "\u200b", "[UNK]"], mode="rom", impl=impl)
    for ids, vec in got:
        assert ids == [] and not vec.any()


@pytest.mark.slow
@pytest.mark.parametrize("impl", ["native", "py"])
def test_everything_file_mode(ref, truth, impl):
    check(corpus() + codepoint_texts() + fuzz_texts(1500) + long_texts(), "file", impl, ref, truth)


@pytest.mark.slow
def test_everything_file_mode_tables_in_ram(ref, truth):
    check(corpus() + codepoint_texts() + fuzz_texts(1500) + long_texts(), "fileram", "native", ref, truth)


@pytest.mark.parametrize("mode", ["rom", "fileram", "file"])
def test_native_one_call_embed_and_its_hand_over(ref, truth, mode):
    # the C core's one-call embed finishes every text itself: added tokens, STR and HANGUL code points
    # included, no hand-over to tok.run (which still tokenizes for tokenize())
    import mpy

    texts = ["turn on the kitchen lights", "a [UNK] in [CLS] the middle", "한국어 문장입니다", "the ﬁrst ﬂoor",
             "plain words only, nothing else"] + corpus()[11::301]  # fmt: skip
    mpy.LOOPS.clear()
    check(texts, mode, "native", ref, truth)
    assert mpy.LOOPS == {"native"}, mpy.LOOPS
