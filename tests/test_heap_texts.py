"""The smallest heap for import + load (file mode) + one 3,000-character embed, by script.

tests/test_device_memory.py asserts 32 KiB for an English text; a text is held
in MicroPython's heap as UTF-8, so 3,000 CJK characters are 9,000 bytes and
3,000 emoji 12,000. This measures the smallest ``-X heapsize`` (512-byte
steps) per kind of text on the unix port with the x64 ``.mpy`` build, checks
the vector against the reference at that heap, and prints the table quoted
in docs/PERFORMANCE.md. Slow (a few hundred interpreter runs): ``make slow``.
"""

from __future__ import annotations

import pytest
from mpy import MODEL
from test_device_memory import figures, mpy_dir, run, script_3k  # noqa: F401  (mpy_dir: the fixture)

from host_tools import reference

TEXTS = {
    "ASCII English": ("The quick brown fox jumps over the lazy dog near the riverbank. " * 48)[:3000],
    "Latin accents": ("Ça été une journée très agréable à Zürich, señor Müller. " * 60)[:3000],
    "CJK": ("东京是日本的首都，人口众多。北京は中国の首都です。서울은 한국의 수도입니다。" * 100)[:3000],
    "emoji": ("😀🎉🚀 🌍🔥✨ " * 500)[:3000],
}


@pytest.mark.slow
@pytest.mark.parametrize("name", list(TEXTS))
def test_smallest_heap_by_script(mpy_dir, tmp_path, report, name):  # noqa: F811
    text = TEXTS[name]
    assert len(text) == 3000
    (tmp_path / "t.txt").write_text(text, encoding="utf-8")
    code = script_3k(tmp_path / "t.txt")
    want = reference.load(MODEL).embed(text)
    works = [k * 512 for k in range(48, 161) if run(code, mpy_dir, str(k * 512)).returncode == 0]
    assert works, f"{name}: no heap up to 80 KiB works"
    got = figures(run(code, mpy_dir, str(works[0])))
    assert (got["v0"], got["v1"], got["native"]) == (int(want[0]), int(want[1]), 1)  # the C core ran
    report(f"heap: smallest for 3,000 chars of {name} ({len(text.encode())} UTF-8 bytes), file mode (B)", works[0])
