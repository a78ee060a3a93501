"""The image-memory budget (core/admission.py, IMAGE_MEMORY_BYTES): decoding costs estimated from the header, large
images wait their turn, and what cannot be held is refused with a JSON 413 or 503 instead of the worker being
OOM-killed."""

from __future__ import annotations

import base64
import io
import os
import subprocess
import sys
import threading
import time

import pytest
from PIL import Image

import config
from core.admission import (
    MIB,
    SMALL_IMAGE_BYTES,
    DecodeBudget,
    ImageMemoryBusyError,
    ImageTooLargeForMemoryError,
    decoding_bytes,
)
from core.images import DECODE_BUDGET, open_image
from tests.hostile.make_corpus import rgba_flood
from tooling.live_server import REPO_ROOT


def encoded(mode: str, size: tuple[int, int], image_format: str = "PNG") -> bytes:
    buffer = io.BytesIO()
    Image.new(mode, size).save(buffer, format=image_format)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "mode, image_format, bytes_per_pixel",
    [
        ("1", "PNG", 2),
        ("L", "PNG", 1),
        ("P", "PNG", 5),
        ("LA", "PNG", 8),
        ("RGB", "PNG", 4),
        ("RGBA", "PNG", 8),
        ("I;16", "PNG", 6),
        ("I", "TIFF", 4),
        ("F", "TIFF", 4),
        ("CMYK", "TIFF", 4),
    ],
)
def test_decoding_cost_is_estimated_from_the_header(mode, image_format, bytes_per_pixel):
    image = open_image(encoded(mode, (300, 200), image_format))
    assert image.mode == mode
    assert decoding_bytes(image) == 300 * 200 * bytes_per_pixel


def test_a_jpeg_is_estimated_at_its_drafted_size():
    buffer = io.BytesIO()
    Image.new("RGB", (4000, 3000), "white").save(buffer, format="JPEG")
    drafted = open_image(buffer.getvalue(), draft_side=128)
    assert drafted.size == (500, 375)  # decoded at 1/8 scale
    assert decoding_bytes(drafted) < SMALL_IMAGE_BYTES


# The process's resident memory now and at its peak, in bytes. VmHWM, not getrusage's ru_maxrss: that one is carried
# over from the parent (a pytest holding TensorFlow) through fork and exec.
MEMORY = """
def memory(key):
    with open('/proc/self/status') as status:
        return int(next(line for line in status if line.startswith(key + ':')).split()[1]) * 1024
"""
MEASURE = (
    MEMORY
    + """
from core.images import image_to_model_array, open_image
from core.admission import decoding_bytes
from tests.hostile.make_corpus import {maker}
data = {maker}()
estimate = decoding_bytes(open_image(data))
before = memory('VmRSS')
assert memory('VmHWM') < before + 16 * 2**20, 'making the image peaked above what decoding it is measured from'
image_to_model_array(data)
print(estimate, memory('VmHWM') - before)
"""
)


@pytest.mark.parametrize("maker", ["rgba_flood", "gray16_flood"])
def test_the_estimate_covers_the_measured_peak(maker):
    """In a fresh process: the resident memory that decoding one 40-megapixel flood really adds (the peak, VmHWM) is
    within the estimate plus 10 %, and not far below it (the budget would waste room)."""
    result = subprocess.run(
        [sys.executable, "-c", MEASURE.format(maker=maker)],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=120,
    )
    estimate, measured = map(int, result.stdout.split())
    assert 0.8 * estimate <= measured <= 1.1 * estimate, (estimate, measured)


def test_small_images_are_not_counted():
    budget = DecodeBudget(capacity=1, wait_s=0)
    with budget.reserve(SMALL_IMAGE_BYTES - 1):
        assert budget.held == 0


def test_an_image_larger_than_the_whole_budget_is_refused_at_once():
    budget = DecodeBudget(capacity=64 * MIB, wait_s=10)
    started = time.monotonic()
    with pytest.raises(ImageTooLargeForMemoryError, match="more than this server allows one image"):
        with budget.reserve(65 * MIB):
            pass
    assert time.monotonic() - started < 1


def test_a_full_budget_makes_the_next_image_wait_then_refuses_it():
    budget = DecodeBudget(capacity=100 * MIB, wait_s=0.2)
    with budget.reserve(60 * MIB):
        started = time.monotonic()
        with pytest.raises(ImageMemoryBusyError):
            with budget.reserve(60 * MIB):
                pass
        assert time.monotonic() - started >= 0.2
        with budget.reserve(40 * MIB):  # what still fits goes at once
            assert budget.held == 100 * MIB
    assert budget.held == 0


def test_a_waiting_image_goes_when_room_is_given_back_first_come_first_served():
    budget = DecodeBudget(capacity=100 * MIB, wait_s=10)
    order = []

    def decode(name: str, nbytes: int) -> None:
        with budget.reserve(nbytes):
            order.append(name)

    first = budget.reserve(90 * MIB)
    first.__enter__()
    big = threading.Thread(target=decode, args=("big", 80 * MIB))
    big.start()
    while not budget._queue:
        time.sleep(0.01)
    medium = threading.Thread(target=decode, args=("medium", 20 * MIB))
    medium.start()
    time.sleep(0.1)
    assert order == [], "the medium image fits beside the first, but waits behind the big one"
    first.__exit__(None, None, None)
    big.join(5)
    medium.join(5)
    assert order == ["big", "medium"] and budget.held == 0


def test_the_model_sets_the_process_budget_from_the_settings(model):
    assert DECODE_BUDGET.capacity == config.SETTINGS.image_memory_bytes
    assert DECODE_BUDGET.wait_s == config.SETTINGS.image_memory_wait
    assert config.SETTINGS.image_memory_bytes >= 8 * config.SETTINGS.max_image_pixels, (
        "by default every image under MAX_IMAGE_PIXELS fits the budget on its own"
    )


@pytest.fixture()
def small_budget():
    """The process budget set to 64 MiB and a short wait for one test, then restored."""
    capacity, wait_s = DECODE_BUDGET.capacity, DECODE_BUDGET.wait_s
    DECODE_BUDGET.configure(64 * MIB, 0.2)
    yield DECODE_BUDGET
    DECODE_BUDGET.configure(capacity, wait_s)


def test_an_image_too_large_for_the_budget_is_a_json_413(client, small_budget):
    response = client.post("/model/predict", data={"image": (io.BytesIO(rgba_flood()), "flood.png")})
    assert response.status_code == 413
    assert response.get_json()["status"] == "error" and "too large to process here" in response.get_json()["message"]
    body = {
        "inputs": [
            {
                "name": "image_bytes",
                "shape": [1],
                "datatype": "BYTES",
                "data": [base64.b64encode(rgba_flood()).decode()],
            }
        ]
    }
    response = client.post("/v2/models/fashion-mnist/infer", json=body)
    assert response.status_code == 413 and "too large to process here" in response.get_json()["error"]


def test_a_busy_budget_is_a_json_503_with_retry_after(client, small_budget):
    data = encoded("RGBA", (3000, 2000))  # 48 MB to decode: counted, and it fits alone
    with small_budget.reserve(40 * MIB):
        response = client.post("/model/predict", data={"image": (io.BytesIO(data), "big.png")})
    assert response.status_code == 503 and response.headers["Retry-After"] == "1"
    assert response.get_json() == {
        "status": "error",
        "message": "The server is busy decoding other large images; try again in a moment.",
    }
    response = client.post("/model/predict", data={"image": (io.BytesIO(data), "big.png")})
    assert response.status_code == 200, "served once the room is given back"


def test_floods_in_parallel_stay_within_the_budget():
    """Eight threads decoding 40-megapixel RGBA floods at once (what one worker's 8 request threads can be asked):
    the process's peak stays near one budget's worth, not eight floods' worth."""
    script = MEMORY + (
        "import threading\n"
        "from core.images import image_to_model_array, set_image_memory\n"
        "from tests.hostile.make_corpus import rgba_flood\n"
        "data = rgba_flood()\n"
        "set_image_memory(384 * 2**20, 60)\n"
        "before = memory('VmRSS')\n"
        "threads = [threading.Thread(target=image_to_model_array, args=(data,)) for _ in range(8)]\n"
        "[t.start() for t in threads]; [t.join() for t in threads]\n"
        "print(memory('VmHWM') - before)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=REPO_ROOT,
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "MALLOC_ARENA_MAX": "2"},
    )
    grown = int(result.stdout.split()[-1])
    assert 250 * MIB < grown < 384 * MIB + 64 * MIB, f"{grown / MIB:.0f} MiB"  # one flood at a time (305 MiB)
