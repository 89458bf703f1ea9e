"""This repository's experiment benchmarks (``pytest --gpubench experiments``); not installed."""
