"""Helpers of `scripts/bench` (the benchmark harness). Child processes run `python -m bench_lib.<worker>`."""
