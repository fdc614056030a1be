"""Benchmarks for the countries pipeline (issue #6, "Measure and scale").

    python -m benchmarks [--sizes 250,10000,100000,1000000] [--no-walkthrough] [--no-baseline]

prints a table and writes artifacts/bench/results.json: the walkthrough's wall time (total and per
notebook), the pipeline's per-step wall time and peak RSS (summed over every process involved) at
each size, the physical-limit baseline (plain DuckDB, typed read_json + UNNEST) and the ratio.
See benchmarks/PERFORMANCE.md for the figures and what they mean.
"""
