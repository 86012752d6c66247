"""Benchmarks run by ``liveshop bench ...`` (and, for each, ``python bench/<name>.py``)."""
