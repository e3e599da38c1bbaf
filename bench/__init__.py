"""Benchmarks (`make bench`): each module measures ours and a baseline in the same run and
returns flat figures; `bench.run` writes them to bench/results.json and prints a table."""
