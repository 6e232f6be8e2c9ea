"""Ground truth: token ids as model2vec 0.10.0 computes them, straight from ``tokenizers``."""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = ROOT / "firmware_assets" / "potion-minilm-micro"
CORPUS = Path(__file__).resolve().parent / "corpus" / "multilingual.jsonl"


class Truth:
    """model2vec's tokenisation: character pre-truncation, no special tokens, truncation, [UNK] dropped."""

    def __init__(self, model_dir: Path = MODEL_DIR) -> None:
        self.tok = Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        cfg = json.loads((model_dir / "config.json").read_text())
        self.max_length = cfg.get("max_length", 512)
        vocab = self.tok.get_vocab()
        names = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1])]
        self.median = int(np.median([len(t) for t in names]))
        unk = json.loads(self.tok.to_str())["model"]["unk_token"]
        self.unk_id = vocab[unk]
        self.tok.no_padding()
        self.tok.enable_truncation(self.max_length)

    def ids(self, texts: list[str]) -> list[list[int]]:
        """Token ids for each text."""
        cut = self.max_length * self.median
        enc = self.tok.encode_batch_fast([t[:cut] for t in texts], add_special_tokens=False)
        return [[i for i in e.ids if i != self.unk_id] for e in enc]


def corpus() -> list[str]:
    """The multilingual corpus (tests/corpus)."""
    return [json.loads(line)["text"] for line in CORPUS.read_text().splitlines()]


def codepoint_texts(per_text: int = 48, step: int = 1) -> list[str]:
    """Every code point U+0080..U+10FFFF (no surrogates), alone and inside a word.

    Code points are packed ``per_text`` to a text, each as `` x{c}y {c} `` so
    that every one is seen between letters and between spaces.
    """
    cps = [c for c in range(0x80, 0x110000, step) if not 0xD800 <= c < 0xE000]
    out = []
    for i in range(0, len(cps), per_text):
        out.append(" ".join(f"x{chr(c)}y {chr(c)}" for c in cps[i : i + per_text]))
    return out


_POOLS = [
    "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
    " \t\n\r\u00a0\u3000\u2028\u200b\ufeff",
    ".,;:!?'\"()[]{}-_/\\@#$%^&*+=<>|~`«»“”„‘’…—–¿¡",
    "àáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćİıŁłŒœŠšŸŽžẞßǅǈǋ",
    "\u0300\u0301\u0302\u0308\u0327\u0331\u20dd\u1ab0",
    "абвгдеёжзийклмнопрстуфхцчшщъыьэюяАБВГДЕЁЖЗ",
    "αβγδεζηθικλμνξοπρσςτυφχψωΑΒΓΔΣΩάέήίόύώ",
    "你好世界中文字漢字丁亻豈更車",
    "こんにちはカタカナひらがな",
    "한국어안녕하세요가각힣",
    "مرحبا بالعالم שלום עולם नमस्ते दुनिया สวัสดีชาวโลก",
    "😀👍🏽🇫🇷👩‍👩‍👧‍👦❤️🔥",
]
_SPECIAL = ["[UNK]", "[PAD]", "[unk]", "[PAD", "[[UNK]]"]


def fuzz_texts(n: int, seed: int = 1234) -> list[str]:
    """Seeded random texts mixing scripts, marks, spaces, punctuation, special tokens and any code point."""
    rng = random.Random(seed)
    out = []
    for _ in range(n):
        parts = []
        for _ in range(rng.randint(1, 40)):
            r = rng.random()
            if r < 0.05:
                parts.append(rng.choice(_SPECIAL))
            elif r < 0.15:
                c = rng.randint(0x80, 0x10FFFF)
                if not 0xD800 <= c < 0xE000:
                    parts.append(chr(c))
            else:
                pool = rng.choice(_POOLS)
                parts.append("".join(rng.choice(pool) for _ in range(rng.randint(1, 12))))
        out.append("".join(parts))
    return out


def long_texts() -> list[str]:
    """Texts around both truncation limits and the WordPiece word-length limit."""
    t = Truth()
    cut = t.max_length * t.median
    return [
        "word " * (cut // 5 + 50),  # more characters than the character cut
        "a " * (cut // 2 + 10),  # single-letter words past the character cut
        "supercalifragilistic " * 200,  # more than max_length tokens
        "x" * 100,  # exactly max_input_chars_per_word
        "x" * 101,  # one more: [UNK]
        "é" * 100 + " " + "é" * 101,
        "a" * (cut - 3) + "[UNK] b",  # added token straddling the character cut
        "a" * (cut - 5) + "[PAD]",  # added token ending exactly at the cut
        "[PAD]" * 600,  # added tokens past max_length
        "ab " * (t.max_length - 1) + "unbelievably",  # the cut falls inside a word's pieces
    ]
