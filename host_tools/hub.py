"""Model folders from the Hugging Face hub: ``ORG/NAME`` becomes a local snapshot folder.

    from host_tools.hub import resolve
    folder = resolve("minishlab/potion-base-8M")   # a local folder is returned as is

Downloads go through ``huggingface_hub`` (installed with model2vec) into its
cache (``HF_HUB_CACHE``, by default ``$HF_HOME/hub``); a model already there is
not fetched again, and with ``HF_HUB_OFFLINE=1`` only the cache is read. Only
the files the converter reads are fetched: config.json, tokenizer.json and
model.safetensors (model2vec's own layout, as ``StaticModel.save_pretrained``
writes it).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path

from host_tools.modeldir import ModelError

logger = logging.getLogger(__name__)

FILES = ("config.json", "tokenizer.json", "model.safetensors")
# ORG/NAME as the hub spells repository ids (huggingface_hub validates it again)
_REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]*/[A-Za-z0-9][\w.-]*")


def is_repo_id(name: str) -> bool:
    """Tell whether ``name`` reads as a hub id ``ORG/NAME`` (it may still be a local path)."""
    return bool(_REPO_ID.fullmatch(name)) and ".." not in name


def resolve(name: str | Path) -> Path:
    """Return a local path as is (the converter checks it), or the snapshot folder of a hub id."""
    path = Path(name)
    if path.exists() or not is_repo_id(str(name)):
        return path
    return fetch(str(name))


def fetch(repo_id: str, revision: str | None = None) -> Path:
    """Download ``repo_id`` (or read it from the cache); raise ModelError with one line on failure."""
    try:
        from huggingface_hub import constants, snapshot_download
        from huggingface_hub.errors import (
            HfHubHTTPError,
            HFValidationError,
            LocalEntryNotFoundError,
            RepositoryNotFoundError,
            RevisionNotFoundError,
        )
    except ImportError:
        raise ModelError(
            f"{repo_id}: not a local folder; fetching it from the Hugging Face hub needs huggingface_hub"
            " (pip install 'm2v-micropython-host-tools[hub]', or pip install huggingface_hub)"
        ) from None
    cache = constants.HF_HUB_CACHE
    try:
        folder = snapshot_download(repo_id, repo_type="model", revision=revision, allow_patterns=list(FILES))
    except LocalEntryNotFoundError:
        if constants.HF_HUB_OFFLINE:
            raise ModelError(
                f"{repo_id}: not a local folder, and not in the Hugging Face cache {cache}"
                " (HF_HUB_OFFLINE is set: unset it to download)"
            ) from None
        raise ModelError(
            f"{repo_id}: not a local folder; the Hugging Face hub cannot be reached and the model is not"
            f" in the cache {cache}"
        ) from None
    except RevisionNotFoundError:
        raise ModelError(f"{repo_id}: no revision {revision or 'main'} on the Hugging Face hub") from None
    except RepositoryNotFoundError:
        raise ModelError(
            f"{repo_id}: not a local folder, and no such model on the Hugging Face hub"
            " (or it is private or gated: log in with `hf auth login`)"
        ) from None
    except HFValidationError:
        raise ModelError(f"{repo_id}: not a local folder, nor a valid Hugging Face model id") from None
    except HfHubHTTPError as e:
        raise ModelError(f"{repo_id}: Hugging Face hub error: {str(e).splitlines()[0]}") from None
    logger.info("%s: %s", repo_id, folder)
    return Path(folder)
