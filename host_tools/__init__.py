"""Host tools for the MicroPython port of Model2Vec: converter, reference, inspection."""
