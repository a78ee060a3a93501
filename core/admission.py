"""How much memory the images being decoded in one worker may hold at once (the IMAGE_MEMORY_BYTES setting).

A small upload can decode to hundreds of MB: a 40-megapixel RGBA PNG of 150 kB holds 160 MB of pixels, and
Pillow's conversions before the image is shrunk copy it once more. Eight request threads each decoding one would
take a worker past any sensible container memory limit, and the kernel's OOM killer would end the worker with
every request it holds. So each image's cost is estimated from its header, before a pixel is decoded, and
reserved from the worker's budget: an image that does not fit waits (first come, first served) until the images
ahead of it are done, and is refused with 503 if that takes longer than IMAGE_MEMORY_WAIT; an image that needs
more than the whole budget is refused with 413 at once. Small images (under SMALL_IMAGE_BYTES: every photo, as
JPEGs are decoded at reduced scale) are not counted and never wait.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager

from PIL import Image

MIB = 1024 * 1024
# Images whose decoding costs less than this are not counted: THREADS of them at most (128 MiB with 8 threads).
SMALL_IMAGE_BYTES = 16 * MIB
# Bytes per pixel of a decoded image in Pillow's storage: 1 for 1-bit, 8-bit grey and palette images, 2 for
# 16-bit grey, 4 for everything else (RGB is stored as 4 bytes, like RGBA, I, F, CMYK, LA...).
ONE_BYTE_MODES = ("1", "L", "P")
TWO_BYTE_MODES = ("I;16", "I;16B", "I;16L", "I;16N")
# Modes that core.images.reduce_early() (or Pillow's reduce(), which premultiplies alpha) converts into a full-size
# copy before shrinking, and the bytes per pixel of that copy.
CONVERTED_BYTES_PER_PIXEL = {"1": 1, "P": 4, "PA": 4, "LA": 4, "RGBA": 4, **dict.fromkeys(TWO_BYTE_MODES, 4)}


class ImageMemoryBusyError(RuntimeError):
    """The budget stayed full for IMAGE_MEMORY_WAIT seconds: the API answers 503, Retry-After: 1."""


class ImageTooLargeForMemoryError(ValueError):
    """One image needs more than the whole budget: the API answers 413."""


def decoding_bytes(image: Image.Image) -> int:
    """What decoding and shrinking this image costs at its peak, from its header (mode and size, after a JPEG's
    draft): the decoded pixels plus the full-size copy a conversion makes. Measured peaks agree within 3 %
    (docs/operations.md): 8 B/px for RGBA, 6 for 16-bit grey, 5 for palette, 4 for RGB, CMYK and float."""
    pixels = image.width * image.height
    stored = 1 if image.mode in ONE_BYTE_MODES else 2 if image.mode in TWO_BYTE_MODES else 4
    return pixels * (stored + CONVERTED_BYTES_PER_PIXEL.get(image.mode, 0))


class DecodeBudget:
    """A byte budget shared by one process's request threads; capacity 0 turns it off."""

    def __init__(self, capacity: int = 0, wait_s: float = 30.0) -> None:
        self.capacity = capacity
        self.wait_s = wait_s
        self.held = 0
        self._queue: deque[object] = deque()
        self._changed = threading.Condition()

    def configure(self, capacity: int, wait_s: float) -> None:
        with self._changed:
            self.capacity, self.wait_s = capacity, wait_s
            self._changed.notify_all()

    @contextmanager
    def reserve(self, nbytes: int) -> Iterator[None]:
        """Hold nbytes of the budget for the block: wait for room behind earlier waiters, or raise."""
        if self.capacity <= 0 or nbytes < SMALL_IMAGE_BYTES:
            yield
            return
        if nbytes > self.capacity:
            raise ImageTooLargeForMemoryError(
                f"The image is too large to process here: decoding it takes about {nbytes // MIB} MiB, more than "
                f"this server allows one image ({self.capacity // MIB} MiB). Send a smaller image."
            )
        self._acquire(nbytes)
        try:
            yield
        finally:
            with self._changed:
                self.held -= nbytes
                self._changed.notify_all()

    def _acquire(self, nbytes: int) -> None:
        ticket = object()
        deadline = time.monotonic() + self.wait_s
        with self._changed:
            self._queue.append(ticket)
            try:
                while self._queue[0] is not ticket or self.held + nbytes > self.capacity:
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        raise ImageMemoryBusyError(
                            "The server is busy decoding other large images; try again in a moment."
                        )
                    self._changed.wait(remaining)
                self.held += nbytes
            finally:
                self._queue.remove(ticket)
                self._changed.notify_all()
