"""`make bench`: every module in this package named `bench_*.py` exposes `run(table)`."""
