"""Simulated traffic for the demo and the benchmarks."""
