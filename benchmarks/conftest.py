"""Benchmarks: every case sits in a pytest-benchmark group beside the baseline a user would use."""
