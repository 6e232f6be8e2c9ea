"""Token parity: host_tools.reference against model2vec's own tokenisation.

Ground truth is exactly what ``StaticModel.encode`` does: cut the text to
``max_length * median_token_length`` code points (``_encode_dispatch``), then
``StaticModel.tokenize``: ``encode_batch_fast(add_special_tokens=False)`` with
the tokenizer's truncation at ``max_length``, unknown-token ids dropped.
"""

from __future__ import annotations

import random

import numpy as np
import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from tokenizers import Tokenizer

CODE_POINTS = [c for c in range(0x80, 0x110000) if not 0xD800 <= c < 0xE000]


@pytest.fixture(scope="module")
def truth(m2v):
    """Token ids model2vec's ``encode`` pools for each text."""
    cut = m2v.max_length * m2v.median_token_length

    def ids(texts: list[str]) -> list[list[int]]:
        return m2v.tokenize([t[:cut] for t in texts])

    return ids


@pytest.fixture(scope="module")
def raw_tok(model_dir):
    """The model's tokenizer with no truncation or padding: to prove a text crosses a limit."""
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    return tok


def _mismatches(ref, texts: list[str], expected: list[list[int]]) -> list[tuple[str, list[int], list[int]]]:
    bad = []
    for text, want in zip(texts, expected, strict=True):
        got = ref.tokenize(text)
        if got != want:
            bad.append((text, want, got))
    return bad


def _show(bad) -> str:
    return "\n".join(
        f"  {t[:60]!r} ({' '.join(f'U+{ord(c):04X}' for c in t[:8])}): model2vec {w[:12]} reference {g[:12]}"
        for t, w, g in bad[:10]
    )


# ---------------------------------------------------------------- ground truth


def test_ground_truth_is_model2vec_semantics(m2v, truth, model_dir, corpus):
    """The ids ``truth`` gives are the ids ``encode`` pools, and match the plain tokenizers recipe."""
    cut = m2v.max_length * m2v.median_token_length
    tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
    tok.no_padding()
    tok.enable_truncation(m2v.max_length)
    texts = corpus[::50] + ["a " * 3000, "." * 2000, "x [UNK] y [PAD] z"]
    plain = [
        [i for i in e.ids if i != m2v.unk_token_id]
        for e in tok.encode_batch_fast([t[:cut] for t in texts], add_special_tokens=False)
    ]
    assert truth(texts) == plain
    # encode() pools exactly these ids: rebuild its output from them.
    emb, mapping, weights = m2v.embedding.astype(np.float64), m2v.token_mapping, m2v.weights
    for text, ids in zip(texts[:40], truth(texts[:40]), strict=True):
        got = m2v.encode([text], use_multiprocessing=False)[0].astype(np.float64)
        if not ids:
            assert not got.any()
            continue
        v = (emb[mapping[ids]] * weights[ids][:, None]).mean(axis=0)
        np.testing.assert_allclose(got, v / np.linalg.norm(v), atol=1e-5)


def test_header_matches_model2vec(ref, m2v):
    h = ref.header
    assert h.max_length == m2v.max_length == 512
    assert h.median_token_length == m2v.median_token_length
    assert h.pretrunc_chars == m2v.max_length * m2v.median_token_length
    assert h.unk_id == m2v.unk_token_id


# ------------------------------------------------------- (a) every code point


def test_every_code_point_alone(ref, truth, report):
    """Each of U+0080..U+10FFFF (surrogates excepted) as the whole text."""
    texts = [chr(cp) for cp in CODE_POINTS]
    bad = _mismatches(ref, texts, truth(texts))
    report(f"tokens: every code point alone ({len(texts):,} texts) mismatches", len(bad))
    assert not bad, f"{len(bad)} mismatches:\n{_show(bad)}"


def test_every_code_point_in_words(ref, truth, report):
    """Each code point inside a word and doubled ("ab" c "cd", c c), 24 code points per text.

    Packing keeps the run short; every group is far from both truncation
    limits (at most 13 tokens and 9 code points each). A failing text is
    unpacked to name the code points.
    """
    group = "ab{c}cd {c}{c}"
    chunks = [CODE_POINTS[i : i + 24] for i in range(0, len(CODE_POINTS), 24)]
    texts = [" ".join(group.format(c=chr(cp)) for cp in chunk) for chunk in chunks]
    expected = truth(texts)
    assert max(map(len, expected)) < 512 and max(map(len, texts)) < 3072
    bad_texts = {t for t, _, _ in _mismatches(ref, texts, expected)}
    singles = [group.format(c=chr(cp)) for t, chunk in zip(texts, chunks) if t in bad_texts for cp in chunk]
    bad = _mismatches(ref, singles, truth(singles))
    report(f"tokens: every code point in words ({len(CODE_POINTS):,} code points) mismatching texts", len(bad_texts))
    assert not bad_texts, f"{len(bad_texts)} packed texts differ; single code points:\n{_show(bad)}"


# ------------------------------------------------------------ (b) the corpus


def test_corpus(ref, truth, corpus, report):
    assert len(corpus) == 10_683
    expected = truth(corpus)
    bad = _mismatches(ref, corpus, expected)
    n_tokens = sum(map(len, expected))
    report(f"tokens: corpus ({len(corpus):,} texts, {n_tokens:,} tokens) mismatches", len(bad))
    assert not bad, f"{len(bad)} mismatches:\n{_show(bad)}"


# ------------------------------------------------------------ (c) fuzzing

ANY_CHAR = st.characters(min_codepoint=0, max_codepoint=0x10FFFF, exclude_categories=("Cs",))
FRAGMENTS = [
    "[UNK]", "[PAD]", "[unk]", "[Pad]", "[PA", "D]", "[", "]", "##", "##ing", "#",
    " ", "  ", "\t", "\n", "\r\n", "\x00", "\x7f", "\u00a0", "\u3000", "\u200b", "\u200c", "\u200d", "\ufeff",
    "\ufffd", "\u2028", "e\u0301", "\u0301", "İ", "ß", "Σ", "ς", "ǅ", "ﬁ", "Å", "Ω", "K",
    "한국어", "\u1100\u1161\u11a8", "각", "中文", "日本語", "ｶﾀｶﾅ", "\U00020000", "\u3400",
    "😀", "👩\u200d👩\u200d👧", "🇫🇷", "1️⃣", "...", "’", "«", "»", "—", "¿", "٣", "١٢٣", "मराठी", "ไทย",
    "x\U0001d16d\U0001d165", "a" * 99, "a" * 100, "a" * 101, "hello", "world", "unaffable", "running", "42",
]  # fmt: skip
BIASED_CHAR = st.one_of(
    st.characters(categories=("L", "M", "P")),
    st.characters(categories=("N", "S", "Z", "Cc", "Cf", "Co", "Cn")),
    st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF),
    st.characters(min_codepoint=0xAC00, max_codepoint=0xD7A3),
    st.characters(min_codepoint=0, max_codepoint=0x7F),
)
BIASED_TEXT = st.lists(st.one_of(st.sampled_from(FRAGMENTS), BIASED_CHAR, ANY_CHAR), max_size=40).map("".join)
FUZZ = settings(
    max_examples=1000,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.large_base_example],
)


@FUZZ
@given(text=st.text(ANY_CHAR, max_size=60))
def test_fuzz_any_code_points(ref, truth, text):
    assert ref.tokenize(text) == truth([text])[0]


@FUZZ
@given(text=BIASED_TEXT)
def test_fuzz_biased(ref, truth, text):
    assert ref.tokenize(text) == truth([text])[0]


@settings(FUZZ, max_examples=200)
@given(
    parts=st.lists(st.one_of(st.sampled_from(FRAGMENTS), BIASED_CHAR), min_size=1, max_size=30),
    sep=st.sampled_from([" ", "", ". ", "[PAD]", "[UNK] ", "\u3000"]),
    n=st.one_of(st.integers(2500, 3600), st.integers(3073, 20000)),
)
def test_fuzz_long(ref, truth, parts, sep, n):
    """Long texts (a random unit repeated to n code points): they cross the character cut or the token limit."""
    unit = "".join(parts) + sep
    text = (unit * (n // len(unit) + 1))[:n]
    want = truth([text])[0]
    event(f"longer than the character cut: {len(text) > ref.header.pretrunc_chars}")
    event(f"token limit reached: {len(want) >= ref.header.max_length}")
    assert ref.tokenize(text) == want


# ------------------------------------------------------------ (d) limits


def _limit_cases(cut: int, corpus: list[str]) -> dict[str, str]:
    rng = random.Random(1234)
    big = []
    n = 0
    while n < 1_000_000:
        t = corpus[rng.randrange(len(corpus))]
        big.append(t)
        n += len(t) + 1
    cases = {
        # Longer than the character cut.
        "a-space x5000": "a " * 5000,
        "hello x1000 (cut lands on 512 tokens)": "hello " * 1000,
        "international x1000 (char cut binds)": "international " * 1000,
        "corpus joined (1e6 chars)": " ".join(big)[:1_000_000],
        # More than max_length tokens in fewer characters than the cut.
        "dots x1000": "." * 1000,
        "a. x700": "a." * 700,
        "cjk x2000": "中" * 2000,
        "[PAD] x600": "[PAD]" * 600,
        "[UNK] x600 then words": "[UNK]" * 600 + " hello world",
        "emoji and dots": "😀." * 800,
        # One million characters.
        "a x1e6": "a" * 1_000_000,
        "a-space x5e5": "a " * 500_000,
        "emoji x1e6": "😀" * 1_000_000,
        "cjk x1e6": "中" * 1_000_000,
        "[UNK] x2e5": "[UNK]" * 200_000,
        "[PAD] x2e5": "[PAD]" * 200_000,
        "hangul x1e6": "각" * 1_000_000,
        # Added tokens inside text.
        "pad in word": "hello[PAD]world",
        "unk in word": "x[UNK]y[PAD]z",
        "added only": "[PAD][PAD][UNK]",
        "added bracketed": "[[PAD]] [[UNK]]",
        "added nested": "[PA[UNK]D] [UN[PAD]K]",
        "added lowercase": "[pad] [unk] [Pad]",
        "added partial": "[PAD [UNK PAD] UNK]",
        "added after ##": "##[PAD]## ##[UNK]",
    }
    # Words around max_input_chars_per_word (100), counted after normalisation.
    for n_chars in (99, 100, 101):
        cases[f"a*{n_chars}"] = "a" * n_chars
        cases[f"A*{n_chars} in text"] = "x " + "A" * n_chars + " y"
        cases[f"é*{n_chars} precomposed"] = "é" * n_chars
        cases[f"e+U+0301 *{n_chars}"] = "e\u0301" * n_chars
        cases[f"a*{n_chars} with NUL"] = "a" * (n_chars // 2) + "\x00" + "a" * (n_chars - n_chars // 2)
        cases[f"a*{n_chars} with ZWSP"] = "a" * (n_chars // 2) + "\u200b" + "a" * (n_chars - n_chars // 2)
        cases[f"ab*{n_chars}/2 + [PAD]"] = "a" * n_chars + "[PAD]" + "b" * n_chars
    for n_syl in (33, 34, 49, 50, 51):
        cases[f"가*{n_syl} (2 jamo)"] = "가" * n_syl
        cases[f"각*{n_syl} (3 jamo)"] = "각" * n_syl
    # Added tokens and unknown words straddling the character cut.
    filler = "international " * (cut // 14 + 2)
    for k in range(-2, 8):
        for tok in ("[PAD]", "[UNK]", "😀", "hello"):
            cases[f"{tok} at cut-{k}"] = filler[: cut - k] + tok + " tail"
    # ... and the token limit: n single-token items before them.
    for n in range(508, 514):
        for tok in ("[PAD]", "[UNK]", "😀", "hello", "[PAD][UNK]"):
            cases[f"{tok} after {n} tokens"] = ". " * n + tok + " . x y z"
    return cases


def test_limits(ref, truth, raw_tok, m2v, corpus, report):
    cut = m2v.max_length * m2v.median_token_length
    ml = m2v.max_length
    cases = _limit_cases(cut, corpus)
    names, texts = list(cases), list(cases.values())
    expected = truth(texts)
    want = dict(zip(names, expected, strict=True))

    # The cases do cross the limits they are named for.
    def raw(text: str) -> int:
        return len(raw_tok.encode(text, add_special_tokens=False).ids)

    assert len(want["a-space x5000"]) == ml and len(cases["a-space x5000"]) > cut
    assert len(want["hello x1000 (cut lands on 512 tokens)"]) == ml
    assert len(want["international x1000 (char cut binds)"]) < ml < raw(cases["international x1000 (char cut binds)"])
    for name in ("dots x1000", "a. x700", "cjk x2000", "[PAD] x600", "emoji and dots"):
        assert len(cases[name]) < cut and raw(cases[name]) > ml, name
        assert len(want[name]) <= ml
    assert len(want["[PAD] x600"]) == ml
    assert want["[UNK] x600 then words"] == []  # 512 unknowns truncated then dropped
    assert all(len(cases[n]) == 1_000_000 for n in names if "1e6" in n)
    assert len(want["a*100"]) > 0 and want["a*101"] == []
    assert len(want["é*100 precomposed"]) > 0 and want["é*101 precomposed"] == []
    assert len(want["e+U+0301 *100"]) > 0 and want["e+U+0301 *101"] == []
    assert len(want["가*50 (2 jamo)"]) > 0 and want["가*51 (2 jamo)"] == []
    assert len(want["각*33 (3 jamo)"]) > 0 and want["각*34 (3 jamo)"] == []
    assert [0] == [i for i in want["[PAD] after 511 tokens"] if i != 15]
    assert 0 not in want["[PAD] after 512 tokens"]

    bad = _mismatches(ref, texts, expected)
    report(f"tokens: limit cases ({len(texts)} texts) mismatches", len(bad))
    assert not bad, f"{len(bad)} mismatches:\n{_show(bad)}"


def test_nfd_reordering_of_spacing_marks(ref, truth):
    """NFD reorders combining marks that strip_accents keeps (Mc with ccc != 0).

    No token of the default model contains one, so a word holding them is one
    unknown token whatever the order; the per-code-point tables stay exact.
    """
    texts = ["x\U0001d16d\U0001d165", "\u302f\u302e a", "a\U0001d16d\u0301\U0001d165b", "hello\u1b44\U0001d16dx"]
    assert [ref.tokenize(t) for t in texts] == truth(texts)
