"""The pytest-benchmark files (``benchmarks/test_bench_*.py``, ``make bench``) time under the same CPU-dispatch pin as
every vqaloop command (``vqaloop.dispatch``), set before numpy or torch loads in this process."""
# ruff: noqa: E402  (the pin must run before numpy and torch are imported)

from vqaloop.dispatch import pin

pin()
