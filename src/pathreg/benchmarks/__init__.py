"""pathreg.benchmarks."""
