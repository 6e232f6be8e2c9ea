"""Enrolling phrases on a board (m2v.Index.add, class means): ``python -m examples.enrol.enrol``."""
