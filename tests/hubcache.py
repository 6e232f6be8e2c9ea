"""A Hugging Face cache laid out on disk by hand, as huggingface_hub writes it (no network)."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL_DIR = ROOT / "firmware_assets" / "potion-minilm-micro"
REPO_ID = "m2v-test/potion-minilm-micro"
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def make_cache(home: Path, repo_id: str = REPO_ID, src: Path = MODEL_DIR) -> dict[str, str]:
    """Put ``src``'s files in ``home/hub`` as the cached snapshot of ``repo_id``; return the environment to use.

    Layout: models--ORG--NAME/blobs/<sha256>, snapshots/<commit>/<file> -> ../../blobs/<sha256>,
    refs/main holding the commit. HF_HUB_OFFLINE=1: nothing is fetched.
    """
    repo = home / "hub" / ("models--" + repo_id.replace("/", "--"))
    snap = repo / "snapshots" / COMMIT
    (repo / "blobs").mkdir(parents=True)
    snap.mkdir(parents=True)
    (repo / "refs").mkdir()
    for f in sorted(src.iterdir()):
        data = f.read_bytes()
        blob = hashlib.sha256(data).hexdigest()
        (repo / "blobs" / blob).write_bytes(data)
        os.symlink(Path("..") / ".." / "blobs" / blob, snap / f.name)
    (repo / "refs" / "main").write_text(COMMIT)
    return {"HF_HOME": str(home), "HF_HUB_CACHE": str(home / "hub"), "HF_HUB_OFFLINE": "1"}
