"""Install like a MicroPython library: the README's `mpremote mip install github:OWNER/REPO`, then the model, on a fresh virtual board.

GitHub is served offline: mpremote runs with ``urllib.request.urlopen`` answering the raw
URLs it asks for (``https://raw.githubusercontent.com/OWNER/REPO/HEAD/<path>``) from this
checkout's tracked files, so the test runs what a user's mpremote does with the repository.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from mpy import MODEL

from scripts import build_dist, flash, mpy_arch

ROOT = Path(__file__).resolve().parent.parent

TEXTS = ["turn on the kitchen lights", "Wie spät ist es?", "", "naïve café — 3.14 😀 OK"]
# what the board reports about the package it imported
PROBE = """
import sys, json
import m2v, m2v.tok
m = m2v._model()
m.embed("warm up")
c = m2v.tok.native()
print('@@' + json.dumps({'file': m2v.__file__, 'impl': m.impl, 'native': c and c.__name__,
                         'lib': [p for p in sys.path if p.endswith('/lib')]}))
"""


REPO = "m2v-owner/m2v"  # any OWNER/REPO: the offline GitHub below serves this checkout under it
# mpremote with GitHub's raw file host answered from the checkout: argv[1] the checkout, argv[2] OWNER/REPO,
# argv[3] a file that lists the tracked files (what a push publishes); a path outside them is a 404.
GITHUB = """
import io, sys, urllib.error, urllib.request
root, repo, tracked = sys.argv.pop(1), sys.argv.pop(1), sys.argv.pop(1)
files = set(open(tracked).read().split("\\n"))
prefix = "https://raw.githubusercontent.com/" + repo + "/HEAD/"
def urlopen(url, *args, **kwargs):
    path = url[len(prefix):] if url.startswith(prefix) else None
    if path not in files:
        raise urllib.error.HTTPError(url, 404, "Not Found", {}, None)
    print("served:", path)
    return io.BytesIO(open(root + "/" + path, "rb").read())
urllib.request.urlopen = urlopen
from mpremote.main import main
sys.exit(main())
"""


def mip(port: str, package: str | Path, tmp: Path | None = None) -> str:
    """`mpremote mip install PACKAGE` on the board (``github:`` served offline from the checkout, ``tmp`` a scratch folder); its output."""
    args = ["connect", port, "resume", "mip", "install", str(package)]
    if str(package).startswith("github:"):
        tracked = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True, text=True, check=True)
        listing = tmp / "tracked.txt"
        listing.write_text("\n".join(tracked.stdout.split("\0")))
        cmd = [sys.executable, "-c", GITHUB, str(ROOT), REPO, str(listing), *args]  # mpremote of this environment
    else:
        cmd = flash.mpremote_exe() + args
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Done" in p.stdout, p.stdout
    return p.stdout


def test_package_json_lists_every_module():
    """The root package.json is generated (scripts/build_dist.py --sources-json): every source and every C core."""
    root = json.loads((ROOT / "package.json").read_text())
    assert root == build_dist.sources_package(), "package.json is stale: python -m scripts.build_dist --sources-json"
    assert (ROOT / "package.json").read_text() == build_dist.dump(root)
    want = {f"m2v/{p.name}" for p in (ROOT / "device" / "m2v").glob("*.py")}
    want |= {f"m2v/_native_{arch}.mpy" for arch in mpy_arch.ARCHS}
    assert {t for t, _ in root["urls"]} == want
    assert all((ROOT / url).is_file() for _, url in root["urls"])
    model = json.loads((ROOT / "firmware_assets" / "package.json").read_text())
    assert model["urls"] == [["model.m2v", "model.m2v"]]
    assert model["version"] == root["version"] == build_dist.version()


def test_mip_install_github_then_model(board, tmp_path, report):
    """The README's line: the sources and every architecture's C core into lib/m2v, of which the board loads its own."""
    port, d = board
    out = mip(port, f"github:{REPO}", tmp_path)
    assert "served: package.json" in out, out
    mip(port, f"github:{REPO}/firmware_assets/package.json", tmp_path)
    for target, url in json.loads((ROOT / "package.json").read_text())["urls"]:
        assert (d / "lib" / target).read_bytes() == (ROOT / url).read_bytes(), target
    assert (d / "lib" / "model.m2v").read_bytes() == MODEL.read_bytes()
    assert not (d / "model.m2v").exists()  # m2v.load() finds it in lib, where mip put it

    info = flash.board_json(port, PROBE)
    assert info["file"] == str(d / "lib" / "m2v" / "__init__.py")
    # the C core of the board's architecture (x64: m2v/_native_x64.mpy), the sources compiled on the board
    assert info["impl"]["tok"] == info["impl"]["pool"] == "native", info
    assert info["native"] == "m2v._native_x64", info
    got = [r[0] for r in flash.embed_on_board(port, TEXTS)["r"]]
    assert got == flash.reference_vectors(MODEL, TEXTS)
    flash_bytes = sum(build_dist.native_build(a).stat().st_size for a in mpy_arch.ARCHS)
    report("mip github: install, C cores carried", f"{len(mpy_arch.ARCHS)} architectures, {flash_bytes} B of .mpy")


def test_mip_install_from_a_clone(board):
    """`mpremote mip install CLONE/package.json`: the same files from the file system (paths relative to package.json)."""
    port, d = board
    mip(port, ROOT / "package.json")
    for target, url in json.loads((ROOT / "package.json").read_text())["urls"]:
        assert (d / "lib" / target).read_bytes() == (ROOT / url).read_bytes(), target
    code = "import m2v.tok, json\nprint('@@' + json.dumps(m2v.tok.native().__name__))"
    assert flash.board_json(port, code) == "m2v._native_x64"


def test_mip_install_dist_build(board, tmp_path):
    """`make dist`'s per-architecture package (x64 for the unix port) through mip."""
    port, d = board
    pkg = build_dist.build("x64", tmp_path / "dist").parent
    assert pkg.name == "x64_6.3"
    mip(port, pkg / "package.json")
    mip(port, ROOT / "firmware_assets" / "package.json")
    names = sorted(p.name for p in (d / "lib" / "m2v").iterdir())
    assert names == sorted([p.stem + ".mpy" for p in (ROOT / "device" / "m2v").glob("*.py")] + ["_native.mpy"])
    info = flash.board_json(port, PROBE)
    assert info["file"] == str(d / "lib" / "m2v" / "__init__.mpy")
    # the x64 build carries the C core: the default file mode (ram=None: the tables in RAM on this heap) runs in C
    assert info["impl"] == {"tok": "native", "pool": "native", "loop": "native"}, info
    got = [r[0] for r in flash.embed_on_board(port, TEXTS)["r"]]
    assert got == flash.reference_vectors(MODEL, TEXTS)
