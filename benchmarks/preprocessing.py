"""What pre-processing costs per upload: a 28×28 Fashion-MNIST PNG, a real phone-sized photo and a 12-megapixel
JPEG, through what the server calls (core.images.image_to_model_inputs where a tree has it: the 28×28 array
and the photo network's colour crop; image_to_model_array in older trees), against a baseline measured in the
same run.

Usage: python -m benchmarks.preprocessing [--baseline REF] [--calls N]

The baseline is another revision of the same code (default: the last commit, HEAD), checked out into a
temporary git worktree and timed by this same script in a subprocess, interleaved round by round with the
working tree, so both see the same machine load. Prints ms per call (median of the rounds) and the ratio.
Both trees are given the same inputs (this tree's sample), and the subprocess imports nothing but the tree's
core/: the baseline may predate this script, tooling/ and the present config.py.
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

logger = logging.getLogger("benchmarks.preprocessing")

ROUNDS = 5
DEFAULT_CALLS = 40
TWELVE_MEGAPIXELS = (4000, 3000)
PHOTO_SIDE = 400  # the clothing photos' long side
TIMING_MODULE = "_preprocessing_timing"  # this script's copy in each tree's subprocess


def sample_png(repo_root: Path) -> Path:
    return repo_root / "samples" / "ankle-boot.png"


def synthetic_photo(size: tuple[int, int], seed: int = 0) -> bytes:
    """A blue garment on a textured grey floor with a lighting gradient, as a phone JPEG (quality 90)."""
    rng = np.random.default_rng(seed)
    width, height = size
    gradient = np.linspace(150, 110, width)[None, :, None]
    pixels = np.clip(gradient + rng.normal(0, 3, (height, width, 3)), 0, 255)
    pixels[height // 5 : 4 * height // 5, width // 3 : 2 * width // 3] = (40, 90, 200)
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8), mode="RGB").save(buffer, format="JPEG", quality=90)
    return buffer.getvalue()


def inputs(png_path: Path) -> dict[str, bytes]:
    return {
        "28x28 PNG": png_path.read_bytes(),
        f"{PHOTO_SIDE}px photo JPEG": synthetic_photo((PHOTO_SIDE, 300)),
        "12-megapixel JPEG": synthetic_photo(TWELVE_MEGAPIXELS),
    }


def time_calls(calls: int, png_path: str) -> dict[str, float]:
    """ms per call of the tree's pre-processing for each input, in this process (the tree it was started in)."""
    import core.images

    preprocess = getattr(core.images, "image_to_model_inputs", None) or core.images.image_to_model_array
    timings = {}
    for name, data in inputs(Path(png_path)).items():
        preprocess(data)  # warm-up: imports, allocator
        started = time.perf_counter()
        for _ in range(calls):
            preprocess(data)
        timings[name] = (time.perf_counter() - started) / calls * 1000.0
    return timings


def time_in_tree(tree: Path, calls: int, png_path: Path) -> dict[str, float]:
    """One round of time_calls run by `tree`'s own code in a fresh interpreter."""
    command = [
        sys.executable,
        "-c",
        f"import json; from {TIMING_MODULE} import time_calls; "
        f"print(json.dumps(time_calls({calls}, {str(png_path)!r})))",
    ]
    script = Path(__file__).read_text()
    with tempfile.TemporaryDirectory() as scratch:
        # The baseline tree may predate this script: it is given a copy, run against the tree's own core/.
        (Path(scratch) / f"{TIMING_MODULE}.py").write_text(script)
        done = subprocess.run(
            command,
            cwd=tree,
            env={"PYTHONPATH": f"{scratch}:{tree}", "PATH": ""},
            capture_output=True,
            text=True,
            check=False,
        )
    if done.returncode:
        raise RuntimeError(f"timing in {tree} failed:\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def baseline_worktree(ref: str, directory: Path, repo_root: Path) -> Path:
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(directory), ref], cwd=repo_root, check=True, capture_output=True
    )
    return directory


def main(argv: list[str] | None = None) -> dict:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    # Imported here, not at the top: the baseline's subprocess imports a copy of this module, and its tree may
    # have no tooling/.
    from tooling.live_server import REPO_ROOT

    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.preprocessing",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--baseline", default="HEAD", help="git revision to compare with (default: %(default)s)")
    parser.add_argument("--calls", type=int, default=DEFAULT_CALLS, help="calls per input per round")
    args = parser.parse_args(argv)
    rounds: dict[str, list[dict[str, float]]] = {"current": [], "baseline": []}
    with tempfile.TemporaryDirectory() as scratch:
        tree = baseline_worktree(args.baseline, Path(scratch) / "baseline", REPO_ROOT)
        try:
            for _ in range(ROUNDS):
                rounds["current"].append(time_in_tree(REPO_ROOT, args.calls, sample_png(REPO_ROOT)))
                rounds["baseline"].append(time_in_tree(tree, args.calls, sample_png(REPO_ROOT)))
        finally:
            subprocess.run(["git", "worktree", "remove", "--force", str(tree)], cwd=REPO_ROOT, check=False)
    result = {}
    for name in rounds["current"][0]:
        current = statistics.median(r[name] for r in rounds["current"])
        baseline = statistics.median(r[name] for r in rounds["baseline"])
        result[name] = {
            "current_ms": round(current, 3),
            "baseline_ms": round(baseline, 3),
            "ratio": round(current / baseline, 2),
        }
        logger.info(
            "%-22s %8.3f ms  (baseline %s: %8.3f ms, ratio %.2f)",
            name,
            current,
            args.baseline,
            baseline,
            current / baseline,
        )
    return result


if __name__ == "__main__":
    main()
