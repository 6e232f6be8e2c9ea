#!/usr/bin/env python3
"""Build the multilingual tokenizer-parity corpus ``multilingual.jsonl``.

The corpus is assembled *only* from text shipped inside pinned PyPI packages,
so it can be rebuilt offline from a package mirror and never touches a model
hub:

* **Django** – the gettext catalogues (``*.mo``) of Django and its contrib
  apps: real, human-translated UI sentences in ~100 languages.
* **Babel** – CLDR locale data: territory and language names, month and day
  names, formatted dates, numbers and currencies, joined with each locale's
  own list pattern (``"A, B и C"``, ``"A、B、C"``, ...).
* **Faker** – locale-specific providers (native-language lorem word lists,
  person names, addresses, companies, jobs) for the locales that ship them.
* **emoji** – the Unicode emoji set (including ZWJ sequences, skin tones,
  flags and keycaps) and its localised CLDR short names.

Texts are packed to 20–400 characters (code points).  A share of them mixes
scripts and emoji on purpose (bilingual UI strings, a country's name in a
dozen languages with its flag, emoji with their localised names).

Every line of the output is a JSON object ``{"lang": TAG, "text": TEXT}``
where ``TAG`` is a BCP 47 ``language-Script`` tag (``fr-Latn``, ``ru-Cyrl``,
``ja-Jpan``, ``zh-Hans``, ``ko-Kore``, ...), ``und-Zsye`` for pure emoji
sequences and ``mul-Zyyy`` for deliberately mixed-script texts.

The build is deterministic: inputs are read in sorted order, every random
choice comes from :class:`random.Random` seeded with a fixed string, and the
source packages are pinned (see ``PINNED_PACKAGES``; a version mismatch is
logged as a warning because the output would then differ).

Usage::

    python tests/corpus/build_corpus.py            # build and verify
    python tests/corpus/build_corpus.py --check    # only verify the file
"""

from __future__ import annotations

import argparse
import datetime as dt
import html
import importlib
import importlib.metadata
import importlib.util
import json
import logging
import random
import re
import struct
import sys
import unicodedata
import zlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

LOG = logging.getLogger("build_corpus")

HERE = Path(__file__).resolve().parent
DEFAULT_OUTPUT = HERE / "multilingual.jsonl"

SEED = "model2vec-micropython-corpus-v1"

#: PyPI distributions the corpus is built from, with the versions the
#: committed ``multilingual.jsonl`` was produced with.
PINNED_PACKAGES: dict[str, str] = {
    "Django": "5.2.19",
    "babel": "2.19.0",
    "Faker": "40.63.0",
    "emoji": "2.16.0",
}

#: Import name for each distribution in :data:`PINNED_PACKAGES`.
IMPORT_NAMES: dict[str, str] = {
    "Django": "django",
    "babel": "babel",
    "Faker": "faker",
    "emoji": "emoji",
}

MIN_CHARS = 20
#: Shorter UI messages (single letters, abbreviations) are not used.
MIN_PIECE_CHARS = 2
MAX_CHARS = 400

#: Minimum number of texts per script category and in total (checked after
#: every build and by ``--check``).
MIN_PER_CATEGORY = 150
MIN_TOTAL = 5000

#: Cap on Django texts for one locale.  Languages whose script the corpus
#: must cover get a larger cap; Latin and Cyrillic ones a smaller one since
#: many languages already contribute to those scripts.
DJANGO_CAP_DEFAULT = 30
DJANGO_CAP_PRIORITY = 400
DJANGO_CAP_PRIORITY_COMMON_SCRIPT = 120
COMMON_SCRIPTS: frozenset[str] = frozenset({"Latn", "Cyrl"})

#: Languages whose scripts are required categories (ISO 639 codes).
PRIORITY_LANGS: frozenset[str] = frozenset(
    {
        "ar", "fa", "ur", "ckb", "ug",  # Arabic script
        "he",  # Hebrew
        "hi", "mr", "ne",  # Devanagari
        "th",  # Thai
        "zh", "ja", "ko",  # CJK, Hangul
        "el",  # Greek
        "ru", "uk", "bg", "sr", "mk", "be",  # Cyrillic
        "fr", "de", "pl", "vi", "tr", "cs",  # Latin with diacritics
    }
)  # fmt: skip

#: Babel (CLDR) locales used for lists, dates and numbers.
BABEL_LOCALES: tuple[str, ...] = (
    "am", "ar", "be", "bg", "bn", "cs", "da", "de", "el", "es", "et", "fa",
    "fi", "fr", "gu", "he", "hi", "hr", "hu", "hy", "is", "it", "ja", "ka",
    "kk", "km", "kn", "ko", "lo", "lt", "lv", "mk", "ml", "mn", "mr", "my",
    "ne", "pa", "pl", "pt", "ro", "ru", "si", "sk", "sl", "sq", "sr", "sv",
    "ta", "te", "th", "tr", "uk", "ur", "uz", "vi", "yue", "zh_Hans",
    "zh_Hant",
)  # fmt: skip

#: Babel locales in which a territory/language name is shown side by side
#: in the mixed-script texts (one per script family, roughly).
MIXED_LOCALES: tuple[str, ...] = (
    "en", "fr", "de", "pl", "vi", "ru", "el", "ar", "he", "hi", "th",
    "zh_Hans", "ja", "ko",
)  # fmt: skip

#: Faker locales; for each only the providers that exist natively for the
#: locale are used (no silent fallback to English).
FAKER_LOCALES: tuple[str, ...] = (
    "ar_AA", "ar_SA", "bg_BG", "bn_BD", "cs_CZ", "de_DE", "el_GR", "fa_IR",
    "fr_FR", "he_IL", "hi_IN", "hu_HU", "hy_AM", "ja_JP", "ka_GE", "ko_KR",
    "mk_MK", "ne_NP", "pl_PL", "ro_RO", "ru_RU", "sk_SK", "th_TH", "tr_TR",
    "uk_UA", "vi_VN", "zh_CN", "zh_TW",
)  # fmt: skip

FAKER_PROVIDERS: tuple[str, ...] = ("person", "address", "company", "job")

#: Number of mixed-script texts of each kind.
MIXED_BILINGUAL = 500
MIXED_EMOJI_SENTENCES = 400
#: Share of the bilingual texts that end with an emoji.
BILINGUAL_EMOJI_SHARE = 0.6

EMOJI_SEQUENCES = 250
EMOJI_NAMED_PER_LANG = 40

_PLACEHOLDER_RE = re.compile(r"%(?:\(\w+\))?[-#0 +]*\d*(?:\.\d+)?[sdifr]|\{\w*\}")
_TAG_RE = re.compile(r"<[^>]+>")
_SPACE_RE = re.compile(r"\s+")
_SENTENCE_END = tuple(".!?。！？…:;।؟")
_NO_SPACE_LANGS = frozenset({"zh", "ja", "yue"})


class MissingPackageError(RuntimeError):
    """A source package of the corpus is not installed."""


@dataclass(frozen=True)
class Entry:
    """One corpus line."""

    lang: str
    text: str


# --------------------------------------------------------------------------
# Package handling
# --------------------------------------------------------------------------


def require(dist: str) -> ModuleType:
    """Import the source distribution ``dist`` or fail with a clear message.

    Args:
        dist: Distribution name, a key of :data:`PINNED_PACKAGES`.

    Returns:
        The imported top-level module.

    Raises:
        MissingPackageError: If the package cannot be imported.
    """
    pinned = PINNED_PACKAGES[dist]
    try:
        module = importlib.import_module(IMPORT_NAMES[dist])
    except ImportError as exc:
        msg = (
            f"source package {dist!r} is not installed; install the corpus "
            f"sources with: pip install {dist}=={pinned} "
            "(see tests/corpus/README.md)"
        )
        raise MissingPackageError(msg) from exc
    installed = importlib.metadata.version(dist)
    if installed != pinned:
        LOG.warning(
            "%s %s is installed but the corpus is pinned to %s: "
            "the output will differ from the committed file",
            dist,
            installed,
            pinned,
        )
    return module


def package_dir(module: ModuleType) -> Path:
    """Return the directory of an imported package."""
    if module.__file__ is None:
        msg = f"cannot locate the files of package {module.__name__!r}"
        raise MissingPackageError(msg)
    return Path(module.__file__).resolve().parent


# --------------------------------------------------------------------------
# Text helpers
# --------------------------------------------------------------------------


def rng_for(*parts: str) -> random.Random:
    """Return a random generator seeded deterministically from ``parts``."""
    return random.Random(":".join((SEED, *parts)))


def normalise_space(text: str) -> str:
    """Collapse whitespace runs to single spaces and strip the ends."""
    return _SPACE_RE.sub(" ", text).strip()


def lang_tag(locale_id: str, likely_subtags: dict[str, str]) -> str:
    """Turn a locale identifier into a BCP 47 ``language-Script`` tag.

    Args:
        locale_id: ``ru``, ``zh_Hans``, ``sr_Latn``, ``pt_BR``, ``ja_JP``...
        likely_subtags: CLDR likely-subtags table (from Babel).

    Returns:
        For example ``ru-Cyrl``, ``zh-Hans``, ``sr-Latn``, ``pt-Latn``.
    """
    parts = locale_id.replace("-", "_").split("_")
    lang = parts[0].lower()
    script = next((p.title() for p in parts[1:] if len(p) == 4), None)
    if script is None:
        likely = likely_subtags.get(lang, "")
        script = next((p for p in likely.split("_")[1:] if len(p) == 4), "Zyyy")
    return f"{lang}-{script}"


def base_lang(tag: str) -> str:
    """Return the language part of a tag (``zh-Hans`` -> ``zh``)."""
    return tag.split("-", 1)[0]


def join_pieces(pieces: Sequence[str], lang: str) -> str:
    """Join message fragments into running text in a language-aware way."""
    no_space = base_lang(lang) in _NO_SPACE_LANGS
    out = ""
    for piece in pieces:
        if not out:
            out = piece
            continue
        if no_space:
            out += ("" if out.endswith(_SENTENCE_END) else "。") + piece
        elif out.endswith(_SENTENCE_END):
            out += " " + piece
        else:
            out += " · " + piece
    return out


def pack(
    pieces: Iterable[str],
    lang: str,
    rng: random.Random,
    low: int = 40,
    high: int = 320,
) -> Iterator[str]:
    """Greedily pack fragments into texts of random target lengths.

    Args:
        pieces: Fragments in the order to pack them.
        lang: Language tag (controls the joiner).
        rng: Source of the target lengths.
        low: Smallest target length.
        high: Largest target length.

    Yields:
        Texts of :data:`MIN_CHARS`..:data:`MAX_CHARS` code points.
    """
    batch: list[str] = []
    target = rng.randint(low, high)
    for piece in pieces:
        if len(piece) > MAX_CHARS:
            continue
        candidate = join_pieces([*batch, piece], lang)
        if batch and len(candidate) > MAX_CHARS:
            yield join_pieces(batch, lang)
            batch, target = [piece], rng.randint(low, high)
            continue
        batch.append(piece)
        if len(candidate) >= target:
            yield candidate
            batch, target = [], rng.randint(low, high)
    if batch:
        text = join_pieces(batch, lang)
        if len(text) >= MIN_CHARS:
            yield text


def chunked(
    items: Sequence[str], rng: random.Random, low: int, high: int
) -> Iterator[list[str]]:
    """Split ``items`` into consecutive chunks of random size."""
    i = 0
    while i < len(items):
        size = rng.randint(low, high)
        yield list(items[i : i + size])
        i += size


# --------------------------------------------------------------------------
# gettext catalogues (Django)
# --------------------------------------------------------------------------


def read_mo(path: Path) -> dict[str, list[str]]:
    """Parse a GNU gettext ``.mo`` file.

    Args:
        path: The catalogue.

    Returns:
        Mapping of the (singular) msgid to its translations (one per
        plural form).  The header entry and untranslated messages are
        dropped.
    """
    data = path.read_bytes()
    magic = struct.unpack("<I", data[:4])[0]
    endian = "<" if magic == 0x950412DE else ">"
    _rev, count, orig_off, trans_off = struct.unpack(endian + "4I", data[4:20])
    catalog: dict[str, list[str]] = {}
    for i in range(count):
        olen, ooff = struct.unpack(
            endian + "2I", data[orig_off + 8 * i : orig_off + 8 * i + 8]
        )
        tlen, toff = struct.unpack(
            endian + "2I", data[trans_off + 8 * i : trans_off + 8 * i + 8]
        )
        msgid = data[ooff : ooff + olen].decode("utf-8")
        msgstr = data[toff : toff + tlen].decode("utf-8")
        if not msgid or not msgstr:
            continue
        # Keep the singular msgid, without its msgctxt prefix.
        msgid = msgid.split("\x04")[-1].split("\x00")[0]
        forms = [f for f in msgstr.split("\x00") if f]
        if forms:
            catalog[msgid] = forms
    return catalog


def clean_message(text: str, key: str) -> str:
    """Make a UI message read like text: fill placeholders, drop markup.

    Args:
        text: The message (an msgid or one of its translations).
        key: The msgid; a placeholder gets the same number in the source
            message and in all of its translations.

    Returns:
        The message with placeholders replaced by numbers, HTML tags
        removed, entities decoded and whitespace collapsed.
    """
    seen: Counter[str] = Counter()

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        seen[token] += 1
        digest = zlib.crc32(f"{SEED}:{key}:{token}:{seen[token]}".encode())
        return str(2 + digest % 998)

    text = _PLACEHOLDER_RE.sub(fill, text)
    text = text.replace("%%", "%")
    text = html.unescape(_TAG_RE.sub("", text))
    return normalise_space(text)


def django_catalogs(
    django_dir: Path,
) -> dict[str, list[tuple[str, str]]]:
    """Collect (English msgid, translation) pairs per Django locale.

    Args:
        django_dir: Directory of the installed ``django`` package.

    Returns:
        Locale identifier -> sorted list of unique (msgid, msgstr) pairs,
        merged over Django core and all contrib apps.
    """
    merged: dict[str, dict[tuple[str, str], None]] = {}
    for mo in sorted(django_dir.rglob("LC_MESSAGES/*.mo")):
        locale_id = mo.parent.parent.name
        pairs = merged.setdefault(locale_id, {})
        for msgid, forms in sorted(read_mo(mo).items()):
            for form in dict.fromkeys((forms[0], forms[-1])):
                if form != msgid:
                    pairs[(msgid, form)] = None
    if not merged:
        msg = f"no gettext catalogues found under {django_dir}"
        raise MissingPackageError(msg)
    return {loc: sorted(pairs) for loc, pairs in sorted(merged.items())}


def django_entries(
    catalogs: dict[str, list[tuple[str, str]]],
    likely: dict[str, str],
) -> list[Entry]:
    """Pack each locale's translated messages into texts."""
    entries: list[Entry] = []
    for locale_id, pairs in catalogs.items():
        if locale_id.startswith("en"):
            continue
        tag = lang_tag(locale_id, likely)
        rng = rng_for("django", locale_id)
        messages = list(dict.fromkeys(clean_message(tr, src) for src, tr in pairs))
        messages = [m for m in messages if len(m) >= MIN_PIECE_CHARS]
        rng.shuffle(messages)
        cap = DJANGO_CAP_DEFAULT
        if base_lang(tag) in PRIORITY_LANGS:
            common = tag.rsplit("-", 1)[-1] in COMMON_SCRIPTS
            cap = DJANGO_CAP_PRIORITY_COMMON_SCRIPT if common else DJANGO_CAP_PRIORITY
        texts = list(pack(messages, tag, rng))[:cap]
        entries.extend(Entry(tag, t) for t in texts)
    # A small plain-English (ASCII) baseline from the message ids.
    rng = rng_for("django", "en")
    english = sorted(
        {clean_message(src, src) for pairs in catalogs.values()
         for src, _tr in pairs}
    )  # fmt: skip
    rng.shuffle(english)
    entries.extend(
        Entry("en-Latn", t) for t in list(pack(english, "en-Latn", rng))[:150]
    )
    return entries


# --------------------------------------------------------------------------
# CLDR (Babel)
# --------------------------------------------------------------------------


def babel_entries(likely: dict[str, str]) -> list[Entry]:
    """Build lists of names, dates and numbers from CLDR data."""
    from babel import Locale
    from babel.dates import format_date, format_datetime
    from babel.lists import format_list
    from babel.numbers import (
        format_compact_decimal,
        format_currency,
        format_percent,
    )

    entries: list[Entry] = []
    moments = [  # one per weekday, spread over the months
        dt.datetime(2024, 1, 5, 9, 15, tzinfo=dt.UTC),
        dt.datetime(2025, 2, 11, 18, 40, tzinfo=dt.UTC),
        dt.datetime(2023, 7, 23, 6, 5, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 30, 23, 59, tzinfo=dt.UTC),
        dt.datetime(2022, 9, 14, 12, 0, tzinfo=dt.UTC),
        dt.datetime(2021, 4, 22, 7, 30, tzinfo=dt.UTC),
        dt.datetime(2020, 10, 3, 16, 45, tzinfo=dt.UTC),
    ]
    for locale_id in BABEL_LOCALES:
        locale = Locale.parse(locale_id)
        tag = lang_tag(locale_id, likely)
        rng = rng_for("babel", locale_id)
        territories = [
            name for code, name in sorted(locale.territories.items()) if code.isalpha()
        ]
        languages = [name for _c, name in sorted(locale.languages.items())]
        rng.shuffle(territories)
        rng.shuffle(languages)
        for names in [
            *list(chunked(territories, rng, 3, 9))[:18],
            *list(chunked(languages, rng, 3, 9))[:12],
        ]:
            entries.append(Entry(tag, format_list(names, locale=locale)))
        months = list(locale.months["format"]["wide"].values())
        days = list(locale.days["format"]["wide"].values())
        entries.append(Entry(tag, format_list(months, locale=locale)))
        entries.append(Entry(tag, format_list(days, locale=locale)))
        for moment in moments:
            amount = rng.randint(100, 999_999) / 100
            currency = rng.choice(["EUR", "USD", "JPY", "INR", "CNY", "RUB"])
            parts = [
                format_datetime(moment, "full", locale=locale),
                format_currency(amount, currency, locale=locale),
                format_percent(rng.random(), locale=locale),
                format_compact_decimal(
                    rng.randint(10_000, 90_000_000),
                    format_type="long",
                    locale=locale,
                ),
                format_date(moment, "medium", locale=locale),
            ]
            entries.append(Entry(tag, " · ".join(parts)))
    return entries


# --------------------------------------------------------------------------
# Faker
# --------------------------------------------------------------------------


def has_native(provider: str, locale_id: str) -> bool:
    """Tell whether Faker ships ``provider`` for ``locale_id`` itself."""
    name = f"faker.providers.{provider}.{locale_id}"
    return importlib.util.find_spec(name) is not None


def faker_entries(likely: dict[str, str]) -> list[Entry]:
    """Native lorem text and person/address profiles from Faker."""
    from faker import Faker

    entries: list[Entry] = []
    for locale_id in FAKER_LOCALES:
        tag = lang_tag(locale_id, likely)
        fake = Faker(locale_id)
        fake.seed_instance(f"{SEED}:faker:{locale_id}")
        rng = rng_for("faker", locale_id)
        if has_native("lorem", locale_id):
            for _ in range(40):
                text = normalise_space(fake.paragraph(nb_sentences=rng.randint(1, 4)))
                if len(text) > MAX_CHARS:
                    text = text[:MAX_CHARS].rsplit(" ", 1)[0]
                entries.append(Entry(tag, text))
        providers = [p for p in FAKER_PROVIDERS if has_native(p, locale_id)]
        if "person" not in providers or "address" not in providers:
            continue
        for _ in range(40):
            parts = [fake.name(), fake.address()]
            if "job" in providers:
                parts.append(fake.job())
            if "company" in providers:
                parts.append(fake.company())
            text = normalise_space(", ".join(p.replace("\n", ", ") for p in parts))
            entries.append(Entry(tag, text))
    return entries


# --------------------------------------------------------------------------
# Emoji
# --------------------------------------------------------------------------


def emoji_entries(likely: dict[str, str]) -> list[Entry]:
    """Emoji sequences and emoji with their localised CLDR names."""
    import emoji

    emoji.config.load_language()
    data = emoji.EMOJI_DATA
    fully = [
        e for e in sorted(data) if data[e]["status"] == emoji.STATUS["fully_qualified"]
    ]
    entries: list[Entry] = []
    rng = rng_for("emoji", "sequences")
    for _ in range(EMOJI_SEQUENCES):
        picks = rng.sample(fully, rng.randint(6, 18))
        sep = rng.choice(["", " ", " ", ", "])
        entries.append(Entry("und-Zsye", sep.join(picks)))
    for lang in ["en", *sorted(emoji.LANGUAGES)]:
        if lang == "en":
            continue
        tag = lang_tag(lang, likely)
        rng = rng_for("emoji", lang)
        named = [e for e in fully if lang in data[e]]
        for _ in range(EMOJI_NAMED_PER_LANG):
            picks = rng.sample(named, rng.randint(2, 6))
            parts = [f"{e} {data[e][lang].strip(':').replace('_', ' ')}" for e in picks]
            entries.append(Entry(tag, " · ".join(parts)))
    rng = rng_for("emoji", "en")
    for _ in range(EMOJI_NAMED_PER_LANG):
        picks = rng.sample(fully, rng.randint(2, 6))
        parts = [f"{e} {data[e]['en'].strip(':').replace('_', ' ')}" for e in picks]
        entries.append(Entry("en-Latn", " · ".join(parts)))
    return entries


def emoji_pool() -> list[str]:
    """Fully-qualified emoji, sorted, for sprinkling into mixed texts."""
    import emoji

    data = emoji.EMOJI_DATA
    return [
        e for e in sorted(data) if data[e]["status"] == emoji.STATUS["fully_qualified"]
    ]


# --------------------------------------------------------------------------
# Mixed scripts
# --------------------------------------------------------------------------


def flag(region: str) -> str:
    """Return the regional-indicator flag emoji of a two-letter region."""
    return "".join(chr(0x1F1E6 + ord(c) - ord("A")) for c in region.upper())


def mixed_entries(catalogs: dict[str, list[tuple[str, str]]]) -> list[Entry]:
    """Texts that deliberately mix scripts, usually with emoji."""
    from babel import Locale

    entries: list[Entry] = []
    pool = emoji_pool()
    locales = [Locale.parse(loc) for loc in MIXED_LOCALES]

    # A territory's name in a dozen languages, with its flag.
    rng = rng_for("mixed", "territories")
    codes = sorted(c for c in locales[0].territories if len(c) == 2 and c.isalpha())
    for code in codes:
        names = list(dict.fromkeys(loc.territories.get(code, "") for loc in locales))
        names = [n for n in names if n]
        rng.shuffle(names)
        sep = rng.choice([" · ", " / ", " | ", ", "])
        entries.append(Entry("mul-Zyyy", f"{flag(code)} " + sep.join(names)))

    # A language's name in a dozen languages.
    rng = rng_for("mixed", "languages")
    lang_codes = sorted(c for c in locales[0].languages if "_" not in c)
    for code in rng.sample(lang_codes, 200):
        names = list(dict.fromkeys(loc.languages.get(code, "") for loc in locales))
        names = [n for n in names if n]
        entries.append(Entry("mul-Zyyy", " = ".join(names)))

    # Bilingual UI strings: English source, translation, maybe an emoji.
    rng = rng_for("mixed", "bilingual")
    targets = sorted(loc for loc in catalogs if base_lang(loc) in PRIORITY_LANGS)
    for _ in range(MIXED_BILINGUAL):
        loc = rng.choice(targets)
        src, tr = rng.choice(catalogs[loc])
        src, tr = clean_message(src, src), clean_message(tr, src)
        text = f"{src} → {tr}"
        if rng.random() < BILINGUAL_EMOJI_SHARE:
            text += " " + rng.choice(pool)
        entries.append(Entry("mul-Zyyy", text))

    # Sentences of two or three scripts interleaved with emoji.
    rng = rng_for("mixed", "interleaved")
    for _ in range(MIXED_EMOJI_SENTENCES):
        parts: list[str] = []
        for loc in rng.sample(targets, rng.randint(2, 3)):
            src, tr = rng.choice(catalogs[loc])
            parts.append(clean_message(tr, src))
            parts.append("".join(rng.sample(pool, rng.randint(1, 3))))
        entries.append(Entry("mul-Zyyy", " ".join(parts)))
    return entries


# --------------------------------------------------------------------------
# Categories and verification
# --------------------------------------------------------------------------

CATEGORIES: tuple[str, ...] = (
    "latin-diacritics",
    "cyrillic",
    "greek",
    "arabic",
    "hebrew",
    "devanagari",
    "thai",
    "cjk-chinese",
    "japanese",
    "hangul",
    "emoji",
)

_RANGES: dict[str, tuple[tuple[int, int], ...]] = {
    "latin-diacritics": ((0x00C0, 0x00D6), (0x00D8, 0x00F6), (0x00F8, 0x024F),
                         (0x1E00, 0x1EFF)),
    "cyrillic": ((0x0400, 0x052F), (0x1C80, 0x1C8F), (0xA640, 0xA69F)),
    "greek": ((0x0370, 0x03FF), (0x1F00, 0x1FFF)),
    "arabic": ((0x0600, 0x06FF), (0x0750, 0x077F), (0x08A0, 0x08FF),
               (0xFB50, 0xFDFF), (0xFE70, 0xFEFF)),
    "hebrew": ((0x0590, 0x05FF), (0xFB1D, 0xFB4F)),
    "devanagari": ((0x0900, 0x097F), (0xA8E0, 0xA8FF)),
    "thai": ((0x0E00, 0x0E7F),),
    "kana": ((0x3040, 0x30FF), (0x31F0, 0x31FF), (0xFF66, 0xFF9F)),
    "han": ((0x3400, 0x4DBF), (0x4E00, 0x9FFF), (0xF900, 0xFAFF),
            (0x20000, 0x3FFFF)),
    "hangul": ((0x1100, 0x11FF), (0x3130, 0x318F), (0xAC00, 0xD7AF)),
    "emoji": ((0x1F000, 0x1FAFF), (0x2600, 0x27BF)),
}  # fmt: skip


def _block_of(cp: int) -> str | None:
    for name, ranges in _RANGES.items():
        if any(lo <= cp <= hi for lo, hi in ranges):
            return name
    return None


def categorize(text: str) -> set[str]:
    """Return the script categories a text belongs to (by Unicode block).

    A text counts as ``japanese`` if it contains kana, as ``cjk-chinese``
    if it contains Han ideographs but no kana, as ``latin-diacritics`` if
    it contains a precomposed accented Latin letter or a combining mark,
    and as ``emoji`` if it contains a pictograph/dingbat code point.
    """
    blocks = {_block_of(ord(ch)) for ch in text}
    if any(unicodedata.category(ch) == "Mn" and ch <= "\u036f" for ch in text):
        blocks.add("latin-diacritics")
    cats = {b for b in blocks if b in CATEGORIES}
    if "kana" in blocks:
        cats.add("japanese")
    elif "han" in blocks:
        cats.add("cjk-chinese")
    return cats


def category_counts(entries: Iterable[Entry]) -> Counter[str]:
    """Count texts per script category (a text may count in several)."""
    counts: Counter[str] = Counter()
    for entry in entries:
        counts.update(categorize(entry.text))
    return counts


def verify(entries: Sequence[Entry]) -> list[str]:
    """Check the corpus invariants.

    Returns:
        A list of problems; empty if the corpus is fine.
    """
    problems: list[str] = []
    if len(entries) < MIN_TOTAL:
        problems.append(f"only {len(entries)} texts (< {MIN_TOTAL})")
    counts = category_counts(entries)
    problems.extend(
        f"category {cat!r} has {counts[cat]} texts (< {MIN_PER_CATEGORY})"
        for cat in CATEGORIES
        if counts[cat] < MIN_PER_CATEGORY
    )
    problems.extend(
        f"text of length {len(e.text)} out of range: {e.text[:40]!r}"
        for e in entries
        if not MIN_CHARS <= len(e.text) <= MAX_CHARS
    )
    if len({e.text for e in entries}) != len(entries):
        problems.append("duplicate texts")
    return problems


# --------------------------------------------------------------------------
# Driver
# --------------------------------------------------------------------------


def finalize(raw: Iterable[Entry]) -> list[Entry]:
    """Normalise, length-filter and de-duplicate entries (order kept)."""
    seen: set[str] = set()
    out: list[Entry] = []
    for entry in raw:
        text = normalise_space(entry.text)
        if not MIN_CHARS <= len(text) <= MAX_CHARS or text in seen:
            continue
        seen.add(text)
        out.append(Entry(entry.lang, text))
    return out


def build() -> list[Entry]:
    """Assemble the whole corpus from the pinned source packages."""
    for dist in PINNED_PACKAGES:
        require(dist)
    from babel.core import get_global

    django = importlib.import_module("django")
    likely: dict[str, str] = dict(get_global("likely_subtags"))
    catalogs = django_catalogs(package_dir(django))
    LOG.info("read Django catalogues of %d locales", len(catalogs))

    sources: list[tuple[str, Callable[[], list[Entry]]]] = [
        ("django", lambda: django_entries(catalogs, likely)),
        ("babel", lambda: babel_entries(likely)),
        ("faker", lambda: faker_entries(likely)),
        ("emoji", lambda: emoji_entries(likely)),
        ("mixed", lambda: mixed_entries(catalogs)),
    ]
    raw: list[Entry] = []
    for name, make in sources:
        produced = make()
        LOG.info("%-6s produced %5d texts", name, len(produced))
        raw.extend(produced)
    return finalize(raw)


def write_jsonl(entries: Iterable[Entry], path: Path) -> None:
    """Write entries as JSON lines (UTF-8, no ASCII escaping)."""
    with path.open("w", encoding="utf-8", newline="\n") as fh:
        for entry in entries:
            line = json.dumps(
                {"lang": entry.lang, "text": entry.text}, ensure_ascii=False
            )
            fh.write(line + "\n")


def read_jsonl(path: Path) -> list[Entry]:
    """Read a corpus file written by :func:`write_jsonl`."""
    with path.open(encoding="utf-8") as fh:
        return [Entry(**json.loads(line)) for line in fh if line.strip()]


def summarize(entries: Sequence[Entry], path: Path) -> None:
    """Log totals, per-category and per-tag counts."""
    counts = category_counts(entries)
    LOG.info("%s: %d texts, %d bytes", path, len(entries), path.stat().st_size)
    for cat in CATEGORIES:
        LOG.info("  %-17s %5d", cat, counts[cat])
    tags = Counter(e.lang for e in entries)
    LOG.info("  %d language tags: %s", len(tags), ", ".join(
        f"{t}={n}" for t, n in sorted(tags.items())
    ))  # fmt: skip


def main(argv: Sequence[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "-o", "--output", type=Path, default=DEFAULT_OUTPUT,
        help="output JSONL file (default: %(default)s)",
    )  # fmt: skip
    parser.add_argument(
        "--check", action="store_true",
        help="only verify an existing output file",
    )  # fmt: skip
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if args.check:
        entries = read_jsonl(args.output)
    else:
        try:
            entries = build()
        except MissingPackageError as exc:
            LOG.error("error: %s", exc)
            return 2
        write_jsonl(entries, args.output)
    summarize(entries, args.output)
    problems = verify(entries)
    for problem in problems:
        LOG.error("corpus check failed: %s", problem)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
