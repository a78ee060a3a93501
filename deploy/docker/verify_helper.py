"""Helpers of deploy/docker/verify.sh (`make docker-verify`); standard library only, any Python 3.8+.

free-port                      print a TCP port free on 127.0.0.1
pip-config OUT                 read `pip config list` on stdin, write the index settings to the pip.conf OUT and
                               print the local paths those settings name (to mount read-only into the build)
probe URL                      exit 0 when GET URL answers 200 within 3 s
check BASE_URL REPO_DIR RUNTIME
                               the HTTP checks of the built image's service, served by RUNTIME (onnxruntime or
                               tensorflow); exit 1 if any fails
cold-start URL TIMEOUT COMMAND...
                               run COMMAND (a detached `podman run`), then print the seconds from just before it
                               to the first 200 on GET URL (polled every 50 ms); exit 1 after TIMEOUT seconds
"""

from __future__ import annotations

import ast
import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from pathlib import Path

# pip settings that say where packages come from (or how long to wait for them). Not `cert`: the build mounts the
# host's CA bundle and passes PIP_CERT itself.
PIP_SOURCE_KEYS = (
    "index-url",
    "extra-index-url",
    "find-links",
    "trusted-host",
    "no-index",
    "constraint",
    "timeout",
    "default-timeout",
    "retries",
)
PIP_PATH_KEYS = ("index-url", "extra-index-url", "find-links", "constraint")


def free_port() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        print(sock.getsockname()[1])


def pip_config(out: str) -> None:
    """`pip config list` prints `<variant>.<key>=<repr of value>`, lowest priority first (files, then PIP_* env)."""
    settings: dict[str, str] = {}
    for line in sys.stdin:
        match = re.fullmatch(r"[^=]*?\.([a-z0-9_-]+)=(.*)", line.strip())
        if not match:
            continue
        key, value = match.group(1).replace("_", "-"), ast.literal_eval(match.group(2))
        if key in PIP_SOURCE_KEYS and value:
            settings[key] = str(value)
    lines = [
        "# Made by deploy/docker/verify.sh from this machine's pip configuration; mounted into the build.",
        "[global]",
    ]
    lines += [f"{key} = {value}" for key, value in settings.items()]
    Path(out).write_text("\n".join(lines) + "\n")
    paths = set()
    for key in PIP_PATH_KEYS:
        for item in settings.get(key, "").split():
            if item.startswith("file:"):
                path = urllib.parse.unquote(urllib.parse.urlparse(item).path)
                if key.endswith("index-url"):  # its pages link to files beside it (../../files/...)
                    path = os.path.dirname(path.rstrip("/"))
            elif "://" in item:
                continue  # a remote index: reached over the build's network
            else:
                path = item
            if os.path.isabs(path) and os.path.exists(path):
                paths.add(path)
    for path in sorted(paths):
        print(path)


def probe(url: str) -> None:
    try:
        with urllib.request.urlopen(url, timeout=3) as response:  # noqa: S310 - a local http URL
            sys.exit(0 if response.status == 200 else 1)
    except (OSError, urllib.error.URLError):
        sys.exit(1)


def request(url: str, files: dict[str, tuple[str, bytes, str]] | None = None) -> tuple[int, dict, float]:
    """GET, or POST multipart/form-data when files are given: (status, JSON body, seconds)."""
    data, headers = None, {}
    if files:
        boundary = uuid.uuid4().hex
        parts = []
        for field, (filename, content, content_type) in files.items():
            parts.append(
                f'--{boundary}\r\nContent-Disposition: form-data; name="{field}"; filename="{filename}"\r\n'
                f"Content-Type: {content_type}\r\n\r\n".encode()
                + content
                + b"\r\n"
            )
        data = b"".join(parts) + f"--{boundary}--\r\n".encode()
        headers["Content-Type"] = f"multipart/form-data; boundary={boundary}"
    start = time.perf_counter()
    try:
        with urllib.request.urlopen(  # noqa: S310
            urllib.request.Request(url, data=data, headers=headers),  # noqa: S310
            timeout=30,
        ) as response:
            status, body = response.status, response.read()
    except urllib.error.HTTPError as error:
        status, body = error.code, error.read()
    seconds = time.perf_counter() - start
    try:
        return status, json.loads(body), seconds
    except ValueError:
        return status, {"raw": body[:200].decode("utf-8", "replace")}, seconds


def cold_start(url: str, timeout_s: str, *command: str) -> None:
    started = time.monotonic()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # noqa: S603
    deadline = started + float(timeout_s)
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=1) as response:  # noqa: S310 - a local http URL
                if response.status == 200:
                    print(f"{time.monotonic() - started:.1f}")
                    return
        except (OSError, urllib.error.URLError):
            pass
        time.sleep(0.05)
    sys.exit(1)


def check(base_url: str, repo_dir: str, runtime: str) -> None:
    samples = Path(repo_dir) / "samples"
    model_sha256 = (Path(repo_dir) / "assets" / "fashion_mnist.h5.sha256").read_text().split()[0]
    failures = 0

    def report(ok: bool, what: str, detail: str) -> None:
        nonlocal failures
        failures += not ok
        print(f"    {'PASS' if ok else 'FAIL'}  {what}: {detail}", flush=True)

    status, body, seconds = request(f"{base_url}/model/metadata")
    report(
        status == 200
        and body.get("id") == "max-fashion-mnist"
        and body.get("sha256") == model_sha256
        and body.get("runtime") == runtime,
        "GET /model/metadata",
        f"HTTP {status}, id={body.get('id')!r}, sha256={str(body.get('sha256'))[:12]}... "
        f"(assets/: {model_sha256[:12]}...), runtime={body.get('runtime')!r}, "
        f"test_accuracy={body.get('test_accuracy')} "
        f"({seconds * 1000:.0f} ms)",
    )

    for filename, content_type, expected in (
        ("ankle-boot.png", "image/png", "Ankle boot"),
        ("trouser.png", "image/png", "Trouser"),
        ("ankle-boot-photo.jpg", "image/jpeg", "Ankle boot"),
    ):
        status, body, seconds = request(
            f"{base_url}/model/predict", {"image": (filename, (samples / filename).read_bytes(), content_type)}
        )
        top = (body.get("predictions") or [{}])[0]
        report(
            status == 200 and body.get("status") == "ok" and top.get("label") == expected,
            f"POST /model/predict samples/{filename}",
            f"HTTP {status}, label={top.get('label')!r} p={top.get('probability', 0):.3f} "
            f"(expected {expected!r}; {seconds * 1000:.0f} ms)",
        )

    status, body, _ = request(
        f"{base_url}/model/predict", {"image": ("README.md", (samples / "README.md").read_bytes(), "text/markdown")}
    )
    report(
        status == 400,
        "POST /model/predict samples/README.md (not an image)",
        f"HTTP {status}, message={str(body.get('message'))[:80]!r}",
    )

    if failures:
        print(f"    {failures} HTTP check(s) failed", flush=True)
        sys.exit(1)


def main() -> None:
    command, args = (sys.argv[1], sys.argv[2:]) if len(sys.argv) > 1 else ("", [])
    commands = {
        "free-port": (free_port, 0),
        "pip-config": (pip_config, 1),
        "probe": (probe, 1),
        "check": (check, 3),
        "cold-start": (cold_start, None),
    }
    if (
        command not in commands
        or commands[command][1] not in (None, len(args))
        or (command == "cold-start" and len(args) < 3)
    ):
        sys.exit(__doc__)
    commands[command][0](*args)


if __name__ == "__main__":
    main()
