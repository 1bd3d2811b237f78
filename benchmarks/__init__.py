"""Benchmark harnesses: long runs that print figures (not tests)."""
