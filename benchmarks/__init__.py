"""Throughput, latency and memory harness. Each `bench_<name>.py` exposes `main()` (defaults, prints a table)."""
