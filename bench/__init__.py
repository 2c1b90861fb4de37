"""Benchmarks and quality measurements; run as modules (`python -m bench.extraction_eval`)."""
