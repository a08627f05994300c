"""Benchmarks that ship with the package (so users can run them on their own device)."""
