"""`hey`, the HTTP load generator `make bench` drives: finding it, the request body it posts, running it, and
reading its CSV. hey itself is Debian's `hey` package, installed by `make install-hey`, never from here.
"""

from __future__ import annotations

import csv
import io
import shlex
import shutil
import subprocess
import time
from pathlib import Path

from benchmarks.figures import BenchError, HeyRow

FIELD_NAME = "image"
BOUNDARY = "----max-fashion-mnist-bench-7d1f3a"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"
HEY_REQUEST_TIMEOUT_S = 30  # a request slower than this counts as failed
MISSING_HEY = "hey is not on PATH: run `make install-hey` (Debian's hey package; as root), then the benchmark again"


def find_hey() -> str:
    """The hey binary on PATH; BenchError naming `make install-hey` where there is none."""
    found = shutil.which("hey")
    if not found:
        raise BenchError(MISSING_HEY)
    return found


def multipart_body(
    field_name: str, filename: str, content: bytes, boundary: str = BOUNDARY, content_type: str = "image/png"
) -> bytes:
    """A multipart/form-data body with one file field, as a browser or requests would send it."""
    head = (
        f"--{boundary}\r\n"
        f'Content-Disposition: form-data; name="{field_name}"; filename="{filename}"\r\n'
        f"Content-Type: {content_type}\r\n\r\n"
    ).encode()
    return head + content + f"\r\n--{boundary}--\r\n".encode()


def requests_for(count: int, concurrency: int) -> int:
    """hey sends count // c requests per worker, so the count actually sent is a multiple of c (and ≥ c)."""
    return max(concurrency, count // concurrency * concurrency)


def parse_hey_csv(text: str) -> list[HeyRow]:
    """hey's CSV (response-time, ..., status-code, offset; seconds) → one HeyRow per completed request."""
    reader = csv.DictReader(io.StringIO(text))
    missing = {"response-time", "status-code", "offset"} - set(reader.fieldnames or ())
    if missing:
        raise ValueError(f"not hey's CSV output: missing columns {sorted(missing)}")
    return [
        HeyRow(float(record["response-time"]), int(record["status-code"]), float(record["offset"]))
        for record in reader
        if record["response-time"]
    ]


def hey_command(
    hey: str, url: str, body_path: Path, concurrency: int, count: int | None, duration: str | None = None
) -> list[str]:
    """POST body_path to url at this concurrency, count requests (rounded by requests_for) or for duration."""
    amount = ["-z", duration] if duration else ["-n", str(requests_for(count or 0, concurrency))]
    return [
        hey,
        *amount,
        "-c",
        str(concurrency),
        "-m",
        "POST",
        "-D",
        str(body_path),
        "-T",
        CONTENT_TYPE,
        "-t",
        str(HEY_REQUEST_TIMEOUT_S),
        "-o",
        "csv",
        url,
    ]


def run_hey(
    hey: str, url: str, body_path: Path, concurrency: int, count: int | None, duration: str | None = None
) -> tuple[list[HeyRow], int | None, float]:
    """One hey run: its completed requests, the number sent (None for a --duration run) and the wall time."""
    command = hey_command(hey, url, body_path, concurrency, count, duration)
    started = time.perf_counter()
    result = subprocess.run(command, capture_output=True, text=True, check=False)  # noqa: S603
    wall_s = time.perf_counter() - started
    if result.returncode != 0:
        raise BenchError(f"{shlex.join(command)} exited with {result.returncode}:\n{result.stderr[-2000:]}")
    sent = None if duration else requests_for(count or 0, concurrency)
    return parse_hey_csv(result.stdout), sent, wall_s
