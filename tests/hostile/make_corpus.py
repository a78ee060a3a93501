"""The hostile-input corpus: every file is built here, in memory, from a few lines of code.

No binary blob of unknown origin is committed: each function below says what its bytes are and makes them
(deterministically, in well under a second). The tests import CORPUS directly; `python -m
tests.hostile.make_corpus DIR` writes the same files to DIR, to look at them or to replay them with curl.
"""

from __future__ import annotations

import io
import struct
import sys
import zipfile
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
BOMB_SIDE = 30_000  # 900 megapixels: 112 MB decoded as 1-bit, 900 MB as 8-bit grayscale
FLOOD_SIDE = 6_300  # 39.7 megapixels: just under the service's MAX_IMAGE_PIXELS (40 M), so it is decoded


@dataclass(frozen=True)
class Hostile:
    """One upload: its bytes, the filename it claims, and whether a correct server may classify it.

    `readable` files are odd but real images (a 1×1 pixel, 16-bit, CMYK, 1 000 frames): the right answer
    is 200 with predictions. Every other file must be refused with a 4xx JSON error.
    """

    name: str
    make: Callable[[], bytes]
    filename: str = "upload.png"
    readable: bool = False


def _encode(image: Image.Image, image_format: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=image_format, **options)
    return buffer.getvalue()


def _garment(size: tuple[int, int] = (64, 64), mode: str = "L") -> Image.Image:
    """A dark rectangle on a light background: something the pre-processing can find."""
    image = Image.new(mode, size, "white")
    width, height = size
    ImageDraw.Draw(image).rectangle((width // 4, height // 8, 3 * width // 4, 7 * height // 8), fill="black")
    return image


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def text_file() -> bytes:
    return b"This is a plain text file, renamed to .png.\n" * 20


def html_file() -> bytes:
    return (
        b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script><img src=x onerror=alert(1)></body></html>"
    )


def svg_file() -> bytes:
    """An SVG with a 'billion laughs' entity expansion: nothing here may parse it as XML."""
    entities = '<!ENTITY l0 "lol">' + "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    return (
        f'<?xml version="1.0"?><!DOCTYPE svg [{entities}]>'
        '<svg xmlns="http://www.w3.org/2000/svg" width="28" height="28"><text>&l9;</text>'
        "<script>alert(1)</script></svg>"
    ).encode()


def pdf_file() -> bytes:
    return (
        b"%PDF-1.4\n1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n"
        b"2 0 obj << /Type /Pages /Kids [] /Count 0 >> endobj\n"
        b"trailer << /Root 1 0 R >>\n%%EOF\n"
    )


def zip_file() -> bytes:
    """A zip holding a real PNG: the server must not open archives."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("garment.png", _encode(_garment(), "PNG"))
        archive.writestr("zeros.bin", b"\0" * 1_000_000)
    return buffer.getvalue()


def truncated_png() -> bytes:
    data = _encode(Image.fromarray(np.random.default_rng(1).integers(0, 256, (128, 128), dtype=np.uint8)), "PNG")
    return data[: len(data) // 2]


def truncated_jpeg() -> bytes:
    data = _encode(_garment((256, 256), "RGB"), "JPEG", quality=90)
    return data[: len(data) // 2]


def png_with_bad_crc() -> bytes:
    """A valid PNG whose IHDR checksum is wrong (the IHDR CRC sits right after its 13 bytes of data)."""
    data = bytearray(_encode(_garment(), "PNG"))
    crc_offset = len(PNG_SIGNATURE) + 4 + 4 + 13
    data[crc_offset] ^= 0xFF
    return bytes(data)


def one_pixel() -> bytes:
    return _encode(Image.new("L", (1, 1), 0), "PNG")


def one_by_100000() -> bytes:
    """A 1-pixel-wide, 100 000-pixel-tall strip (a 100 000:1 aspect ratio)."""
    return _encode(Image.new("L", (1, 100_000), 128), "PNG")


def blank_png(width: int, height: int, bit_depth: int, color_type: int, channels: int) -> bytes:
    """A valid PNG of zeros written row by row, never held decoded: a few hundred KB for any size."""
    row = b"\0" * (1 + (width * channels * bit_depth + 7) // 8)  # filter byte 0, then the packed pixels
    compressor = zlib.compressobj(9)
    idat = b"".join(compressor.compress(row) for _ in range(height)) + compressor.flush()
    header = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return PNG_SIGNATURE + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")


def decompression_bomb() -> bytes:
    """30 000 × 30 000 1-bit grayscale: about 110 KB that would decode to 900 megapixels."""
    return blank_png(BOMB_SIDE, BOMB_SIDE, bit_depth=1, color_type=0, channels=1)


def rgba_flood() -> bytes:
    """Just under MAX_IMAGE_PIXELS (6 300² = 39.7 M), RGBA: ~150 KB that decode to 160 MB."""
    return blank_png(FLOOD_SIDE, FLOOD_SIDE, bit_depth=8, color_type=6, channels=4)


def gray16_flood() -> bytes:
    """Just under MAX_IMAGE_PIXELS, 16-bit grayscale (stretched to 8 bits in floating point)."""
    return blank_png(FLOOD_SIDE, FLOOD_SIDE, bit_depth=16, color_type=0, channels=1)


def animated_gif(frames: int = 1000) -> bytes:
    """A 1 000-frame animation: only the first frame should ever be decoded."""
    images = []
    for index in range(frames):
        frame = _garment((32, 32), "L")
        frame.putpixel((index % 32, index // 32 % 32), 128)  # every frame differs, so none is merged away
        images.append(frame)
    return _encode(images[0], "GIF", save_all=True, append_images=images[1:], duration=10, loop=0)


def tiff_16_bit() -> bytes:
    values = np.full((64, 64), 60_000, dtype=np.uint16)
    values[8:56, 16:48] = 1_000  # dark garment on a light background, in 16-bit values
    return _encode(Image.fromarray(values), "TIFF")


def cmyk_jpeg() -> bytes:
    image = Image.new("CMYK", (64, 64), (0, 0, 0, 0))  # CMYK white
    ImageDraw.Draw(image).rectangle((16, 8, 48, 56), fill=(0, 0, 0, 255))  # black garment
    return _encode(image, "JPEG", quality=90)


def garment_png() -> bytes:
    """An ordinary image, sent under hostile filenames."""
    return _encode(_garment(), "PNG")


CORPUS: tuple[Hostile, ...] = (
    Hostile("text-as-png", text_file),
    Hostile("html-as-png", html_file),
    Hostile("svg-as-png", svg_file),
    Hostile("pdf-as-png", pdf_file),
    Hostile("zip-as-png", zip_file),
    Hostile("truncated-png", truncated_png),
    Hostile("truncated-jpeg", truncated_jpeg, "photo.jpg"),
    Hostile("png-bad-crc", png_with_bad_crc),
    Hostile("decompression-bomb", decompression_bomb),
    Hostile("rgba-flood-under-limit", rgba_flood, readable=True),
    Hostile("gray16-flood-under-limit", gray16_flood, readable=True),
    Hostile("one-pixel", one_pixel, readable=True),
    Hostile("1x100000", one_by_100000, readable=True),
    Hostile("gif-1000-frames", animated_gif, "animation.gif", readable=True),
    Hostile("tiff-16-bit", tiff_16_bit, "scan.tiff", readable=True),
    Hostile("cmyk-jpeg", cmyk_jpeg, "print.jpg", readable=True),
    Hostile("unicode-filename", garment_png, "👗 ドレス\u202egnp.exe", readable=True),
    Hostile("path-traversal-filename", garment_png, "../../../../../../etc/passwd", readable=True),
    Hostile("windows-traversal-filename", garment_png, "..\\..\\..\\windows\\win.ini", readable=True),
)


def write_corpus(directory: Path) -> list[Path]:
    """`python -m tests.hostile.make_corpus DIR`: the corpus as files named after each entry."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for item in CORPUS:
        path = directory / f"{item.name}{Path(item.filename).suffix or '.bin'}"
        path.write_bytes(item.make())
        paths.append(path)
    return paths


if __name__ == "__main__":
    for written in write_corpus(Path(sys.argv[1] if len(sys.argv) > 1 else "hostile-corpus")):
        print(written, written.stat().st_size)
