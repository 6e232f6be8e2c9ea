"""The project's tooling as one package: boards (unix port, virtual, emulated), builds, flashing, benchmarks.

Run from the repository root as ``python -m scripts.<module>`` (the Makefile does); the modules import each
other relatively, so the wheel's copy (``host_tools._repo.scripts``) works the same. ``python -m host_tools
bench`` (``m2v bench``) is the one entry point of the benchmarks.
"""
