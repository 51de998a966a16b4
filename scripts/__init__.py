"""Packaging, publishing and operational helpers, and benchmarks."""
