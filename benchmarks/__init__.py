"""Stand-alone benchmark scripts (run with ``python -m benchmarks.<name>``)."""
