"""The documentation keeps its promises: README.md, docs/*.md and training/README.md link only to files and
headings that exist, the README stays short, and every curl example against the service answers what the page
shows (run against a real server)."""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
README = REPO_ROOT / "README.md"
README_MAX_LINES = 150
DOCUMENTED_URL = "http://localhost:5000"
CURL_TIMEOUT_S = 60

FENCE = re.compile(r"^(```|~~~)\s*([\w+-]*)[^\n]*\n(.*?)^\1\s*$", re.M | re.S)
INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.S)
LINK = re.compile(r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^()\s<>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$", re.M)
SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*:", re.I)


def pages() -> list[Path]:
    return [README, *sorted((REPO_ROOT / "docs").glob("*.md")), REPO_ROOT / "training" / "README.md"]


def page_id(page: Path) -> str:
    return page.relative_to(REPO_ROOT).as_posix()


def without_code(markdown: str) -> str:
    """The text outside fenced blocks and code spans, where links and headings mean something; line count kept."""
    markdown = FENCE.sub(lambda m: "\n" * m.group(0).count("\n"), markdown)
    return INLINE_CODE.sub(lambda m: " " * len(m.group(0)), markdown)


def github_slug(heading: str) -> str:
    """The anchor GitHub gives a heading: its text (code spans and links reduced to their text), lower case,
    every character but letters, digits, '_', '-' and spaces dropped, spaces turned into hyphens."""
    text = INLINE_CODE.sub(lambda m: m.group(2), heading)
    text = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", text)
    text = re.sub(r"<[^>]+>", "", text)
    return re.sub(r"[^\w\- ]", "", text.strip().lower()).replace(" ", "-")


def anchors(page: Path) -> set[str]:
    """Every heading's anchor; a repeated heading gets -1, -2... as on GitHub."""
    seen: dict[str, int] = {}
    found = set()
    text = FENCE.sub("", page.read_text())
    for match in HEADING.finditer(text):
        slug = github_slug(match.group(2))
        count = seen.get(slug, 0)
        seen[slug] = count + 1
        found.add(slug if count == 0 else f"{slug}-{count}")
    return found


def relative_links(page: Path) -> list[tuple[int, str]]:
    """(line, target) of each link on the page that is not to another site."""
    text = without_code(page.read_text())
    return [
        (text.count("\n", 0, m.start()) + 1, m.group(1)) for m in LINK.finditer(text) if not SCHEME.match(m.group(1))
    ]


def broken_links(page: Path) -> list[str]:
    """'line: target: why' for each link on the page to a missing file or heading."""
    problems = []
    for line, target in relative_links(page):
        path_part, _, anchor = target.partition("#")
        linked = (page.parent / path_part).resolve() if path_part else page
        if not linked.exists():
            problems.append(f"{line}: {target}: no such file")
        elif anchor and linked.suffix == ".md" and anchor not in anchors(linked):
            problems.append(f"{line}: {target}: no heading with that anchor in {linked.name}")
    return problems


@pytest.mark.parametrize("page", pages(), ids=page_id)
def test_every_relative_link_leads_somewhere(page):
    assert page.exists()
    assert broken_links(page) == []


def test_slugs_follow_githubs_rules():
    assert github_slug("Open Inference Protocol (KServe V2 / Triton)") == "open-inference-protocol-kserve-v2--triton"
    assert github_slug("In a browser: the demo page") == "in-a-browser-the-demo-page"
    assert github_slug("Proving it without a Docker engine: `make docker-verify`") == (
        "proving-it-without-a-docker-engine-make-docker-verify"
    )
    assert github_slug("What `make test` checks") == "what-make-test-checks"


def test_broken_links_are_found(tmp_path):
    """The link check itself: a missing file, a missing heading and a link inside code (ignored)."""
    (tmp_path / "other.md").write_text("# Other page\n\n## A section\n")
    page = tmp_path / "page.md"
    page.write_text(
        "# Title\n\n[ok](other.md#a-section) [self](#title) [gone](missing.md) "
        "[no anchor](other.md#nowhere) `[code](ignored.md)` [web](https://example.org/x.md)\n\n"
        "```sh\n[fenced](ignored-too.md)\n```\n"
    )
    assert [problem.split(": ", 2)[1] for problem in broken_links(page)] == ["missing.md", "other.md#nowhere"]


def test_readme_is_short():
    lines = len(README.read_text().splitlines())
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail into docs/"


# --- The curl examples, run ---


@dataclass(frozen=True)
class CurlExample:
    page: Path
    line: int
    command: str
    answer: str | None  # the JSON the page shows right after it

    def __str__(self) -> str:
        return f"{page_id(self.page)}:{self.line}"


def curl_examples(page: Path) -> list[CurlExample]:
    """Each shell block that calls the service with curl, and the ```json block right after it (only blank
    lines between), if there is one."""
    text = page.read_text()
    blocks = list(FENCE.finditer(text))
    examples = []
    for index, block in enumerate(blocks):
        language, body = block.group(2), block.group(3)
        if language not in ("sh", "bash", "shell") or not re.search(rf"\bcurl\b.*{re.escape(DOCUMENTED_URL)}", body):
            continue
        after = blocks[index + 1] if index + 1 < len(blocks) else None
        shown = after is not None and after.group(2) == "json" and not text[block.end() : after.start()].strip()
        examples.append(
            CurlExample(page, text.count("\n", 0, block.start()) + 1, body, after.group(3) if shown else None)
        )
    return examples


def all_curl_examples() -> list[CurlExample]:
    return [example for page in [README, *sorted((REPO_ROOT / "docs").glob("*.md"))] for example in curl_examples(page)]


def shape(value):
    """The JSON's structure: the same keys and nesting, list lengths and value types, not the values."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(item) for item in value]
    return type(value).__name__


def answers(value) -> dict:
    """What the model answered, where a page shows it for a sample file: the top prediction (MAX), the label
    outputs (V2), and the class list. These must match exactly, not just in shape."""
    found = {}
    if isinstance(value, dict):
        if value.get("predictions"):
            top = value["predictions"][0]
            found["top prediction"] = {key: top.get(key) for key in ("prediction", "label_id", "label")}
        for output in value.get("outputs", []):
            if output.get("name") in ("label", "label_id"):
                found[f"output {output['name']}"] = output.get("data")
        if "labels" in value:
            found["labels"] = value["labels"]
    return found


def test_readme_and_api_pages_have_curl_examples():
    """The examples below are found at all (a change in the fences would otherwise silence the check)."""
    found = {page_id(example.page) for example in all_curl_examples()}
    assert {"README.md", "docs/api.md"} <= found


def test_every_curl_example_shows_its_answer():
    """Every example against the service is followed by the answer it gets, so that the next test checks it."""
    assert [str(example) for example in all_curl_examples() if example.answer is None] == []


def test_shape_tells_answers_apart():
    documented = {"status": "ok", "predictions": [{"label": "Bag", "probability": 0.5}]}
    assert shape({"status": "ok", "predictions": [{"label": "Coat", "probability": 0.9}]}) == shape(documented)
    assert shape({"status": "ok", "predictions": [{"label": "Bag", "probability": 1}]}) != shape(documented)
    assert shape({"status": "ok", "predictions": []}) != shape(documented)
    assert shape({"status": "ok", "predictions": [{"label": "Bag"}]}) != shape(documented)


@pytest.mark.integration
@pytest.mark.parametrize("example", [example for example in all_curl_examples() if example.answer], ids=str)
def test_curl_example_answers_as_shown(example, live_server, tmp_path):
    """Runs the example as a user would, from a folder holding samples/, against the live server."""
    (tmp_path / "samples").symlink_to(REPO_ROOT / "samples", target_is_directory=True)
    script = "set -euo pipefail\n" + example.command.replace(DOCUMENTED_URL, live_server)
    done = subprocess.run(
        ["bash", "-c", script], cwd=tmp_path, capture_output=True, text=True, timeout=CURL_TIMEOUT_S, check=False
    )
    assert done.returncode == 0, done.stderr
    actual, documented = json.loads(done.stdout), json.loads(example.answer)
    assert shape(actual) == shape(documented)
    assert answers(actual) == answers(documented)


CONSTANT_ROW = re.compile(r"^\| `(core\.\w+)\.([A-Z_]+)` \| `([^`]+)` \|", re.M)


def test_the_documented_preprocessing_constants_are_the_code_s():
    """docs/preprocessing.md names each tuned constant with its value: both must be what the code holds."""
    import importlib

    rows = CONSTANT_ROW.findall((REPO_ROOT / "docs" / "preprocessing.md").read_text())
    assert len(rows) >= 10
    for module, name, shown in rows:
        assert repr(getattr(importlib.import_module(module), name)) == shown, f"{module}.{name}"
