"""Tools shared by tests, benchmarks and scripts (never imported by the service itself)."""
