"""Remake docs/demo-page.png, the picture of the demo page in docs/api.md: the real server, the real page in
headless Chromium (as tests/test_browser.py drives it), three sample photos (the shorts: none of the ten), saved as a
small palette PNG.

Usage: python -m tooling.demo_screenshot [--output docs/demo-page.png]
"""

from __future__ import annotations

import argparse
import io
import logging
import tempfile
from pathlib import Path

from PIL import Image

import config
from tooling.live_server import running_server

logger = logging.getLogger("tooling.demo_screenshot")

SAMPLES = ("sneaker-photo.jpg", "bag-photo-rotated.jpg", "none-of-the-ten/shorts.jpg")
VIEWPORT = {"width": 1040, "height": 760}
PALETTE_COLOURS = 128  # plenty for a page of flat colours and grey thumbnails; keeps the file small


def take_screenshot(base_url: str, chromium: str) -> bytes:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, headless=True)
        page = browser.new_page(viewport=VIEWPORT)
        page.goto(f"{base_url}/app/")
        page.set_input_files("#file-input", [str(config.REPO_ROOT / "samples" / name) for name in SAMPLES])
        page.wait_for_function(
            f"() => document.querySelectorAll('.result[data-state=\"done\"]').length === {len(SAMPLES)}"
        )
        png = page.screenshot(full_page=True)
        browser.close()
    return png


def save_small(png: bytes, output: Path) -> None:
    """Quantised to a palette: a fraction of the bytes of the raw screenshot, with no visible change."""
    image = Image.open(io.BytesIO(png)).convert("RGB").quantize(PALETTE_COLOURS, dither=Image.Dither.NONE)
    output.parent.mkdir(parents=True, exist_ok=True)
    image.save(output, optimize=True)


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--output", type=Path, default=config.REPO_ROOT / "docs" / "demo-page.png")
    parser.add_argument("--chromium", default="/usr/bin/chromium")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as log_dir, running_server(Path(log_dir) / "gunicorn.log") as base_url:
        png = take_screenshot(base_url, args.chromium)
    save_small(png, args.output)
    logger.info("wrote %s (%d bytes)", args.output, args.output.stat().st_size)


if __name__ == "__main__":
    main()
