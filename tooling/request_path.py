"""The service's own functions a request passes through on its way to the runtime, as a call tree: run it in two
trees to compare how many hops a request makes from the WSGI entry to the forward pass, and how often it
crosses from api/ into core/.

Usage: python -m tooling.request_path [SAMPLE]     (default: samples/sneaker-photo.jpg, POST /model/predict)

A hop is a call from one of the service's functions into another (library frames, Flask's and gunicorn's,
are walked through, not counted). The tree is recorded with sys.setprofile in the request's thread.
"""

from __future__ import annotations

import io
import sys
import threading
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SAMPLE = ROOT / "samples" / "sneaker-photo.jpg"
LAYERS = ("api", "core")
SHOWN_DEPTH = 6  # deeper than this, the tree only counts (pre-processing's own helpers)


@dataclass
class Call:
    name: str
    children: list[Call] = field(default_factory=list)

    @property
    def layer(self) -> str:
        return self.name.split("/", 1)[0]


def service_function(frame: FrameType) -> str | None:
    """'core/model.py:infer_inputs' for a frame of the service's own code, None for a library's."""
    path = Path(frame.f_code.co_filename)
    if not path.is_relative_to(ROOT) or ".venv" in path.parts or path.parts[-2:-1] == ("tooling",):
        return None
    return f"{path.relative_to(ROOT).as_posix()}:{frame.f_code.co_name}"


class Recorder:
    """Builds one call tree per thread from 'call' and 'return' events of the service's functions."""

    def __init__(self) -> None:
        self.roots: dict[str, list[Call]] = {}
        self.stacks: dict[int, list[Call | None]] = {}

    def __call__(self, frame: FrameType, event: str, _arg: object) -> None:
        stack = self.stacks.setdefault(threading.get_ident(), [])
        if event == "call":
            name = service_function(frame)
            call = Call(name) if name else None
            if call is not None:
                parent = next((c for c in reversed(stack) if c is not None), None)
                if parent is None:
                    self.roots.setdefault(threading.current_thread().name, []).append(call)
                else:
                    parent.children.append(call)
            stack.append(call)
        elif event == "return" and stack:
            stack.pop()


RUNTIME_CALL = "core/runtimes.py:run"  # the forward pass: ONNX Runtime's session.run (or TensorFlow's function)


def path_to(calls: list[Call], target: str) -> list[str]:
    """The chain of calls from a root of the tree down to the first call named `target` ([] when none is)."""
    for call in calls:
        if call.name == target:
            return [call.name]
        below = path_to(call.children, target)
        if below:
            return [call.name, *below]
    return []


def crossings(calls: list[Call], parent: Call | None = None) -> int:
    """Calls from a function of api/ straight into one of core/."""
    count = 0
    for call in calls:
        if parent is not None and parent.layer == "api" and call.layer == "core":
            count += 1
        count += crossings(call.children, call)
    return count


def size(calls: list[Call]) -> int:
    return sum(1 + size(call.children) for call in calls)


def render(calls: list[Call], depth: int = 0) -> list[str]:
    lines = []
    for call in calls:
        hidden = size(call.children) if depth + 1 >= SHOWN_DEPTH else 0
        suffix = f"  (+{hidden} calls below)" if hidden else ""
        lines.append("  " * depth + call.name + suffix)
        if not hidden:
            lines += render(call.children, depth + 1)
    return lines


def record_request(client: FlaskClient, sample: Path) -> Recorder:
    """One POST /model/predict of the sample, after a first one that warms up. Recorded in this thread alone:
    a lone request finds its micro-batcher quiet and runs the forward pass itself (core/batching.py)."""
    data = sample.read_bytes()
    client.post("/model/predict", data={"image": (io.BytesIO(data), sample.name)})
    recorder = Recorder()
    sys.setprofile(recorder)
    try:
        client.post("/model/predict", data={"image": (io.BytesIO(data), sample.name)})
    finally:
        sys.setprofile(None)
    return recorder


def main(argv: list[str] | None = None) -> None:
    args = sys.argv[1:] if argv is None else argv
    sample = Path(args[0]) if args else DEFAULT_SAMPLE
    from app import create_app

    recorder = record_request(create_app().test_client(), sample)
    out = sys.stdout
    for thread, calls in recorder.roots.items():
        out.write(f"# thread {thread}\n" + "\n".join(render(calls)) + "\n")
    calls = [call for roots in recorder.roots.values() for call in roots]
    chain = path_to(calls, RUNTIME_CALL)
    out.write(f"\nto the forward pass, {len(chain) - 1} hops: {' -> '.join(chain)}\n")
    out.write(f"api/ -> core/ crossings: {crossings(calls)}\n")


if __name__ == "__main__":
    main()
