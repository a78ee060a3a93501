"""How evenly two workers share bursts of keep-alive connections, with the default ACCEPT_YIELD_MS and without
the pause (ACCEPT_YIELD_MS=0), on this machine: a measurement (it depends on how busy the machine is), not a
test. tests/test_worker.py checks the mechanism itself with a pause long enough to make the split certain.

Usage: python -m benchmarks.sharing [--bursts 10] [--threads 4]
"""

from __future__ import annotations

import argparse
import logging
import tempfile
from collections import Counter
from pathlib import Path

from config import SETTINGS
from tooling.bursts import run_burst, two_workers

logger = logging.getLogger("benchmarks.sharing")
WARM_UP_BURSTS = 2  # uncounted: a new worker's first accepts are slower


def splits_with(yield_ms: float, bursts: int, threads: int, work: Path) -> list[list[int]]:
    log_path = work / f"gunicorn-{yield_ms:g}.log"
    with two_workers(log_path, threads, yield_ms) as port:
        for _ in range(WARM_UP_BURSTS):
            run_burst(port, log_path, 2 * threads)
        return [run_burst(port, log_path, 2 * threads) for _ in range(bursts)]


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--bursts", type=int, default=10)
    parser.add_argument("--threads", type=int, default=4, help="THREADS per worker; a burst is 2 × THREADS")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="sharing-") as work:
        for yield_ms in (SETTINGS.accept_yield_ms, 0.0):
            splits = splits_with(yield_ms, args.bursts, args.threads, Path(work))
            even = sum(split == [args.threads, args.threads] for split in splits)
            counts = ", ".join(f"{a}/{b} ×{n}" for (a, b), n in sorted(Counter(map(tuple, splits)).items()))
            logger.info("ACCEPT_YIELD_MS=%g: %d of %d bursts even (%s)", yield_ms, even, args.bursts, counts)


if __name__ == "__main__":
    main()
