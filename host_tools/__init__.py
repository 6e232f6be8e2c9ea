"""Host tools for the MicroPython port of Model2Vec: converter, reference, inspection."""

# The release version: pyproject.toml reads it from here (setuptools dynamic version);
# device/m2v/__init__.py, device/manifest.py and both package.json files carry the same
# string, checked by tests/test_release.py.
__version__ = "0.1.0"
