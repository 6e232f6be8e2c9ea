"""Programs built on the package; run from the repository root as ``python -m examples.<folder>.<name>``."""
