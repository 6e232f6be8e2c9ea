"""Smart-home intents: an index and a classifier on a board: ``python -m examples.smart_home.deploy``."""
