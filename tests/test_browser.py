"""End to end in a real headless Chromium against the real gunicorn server: the demo page at /app/ and
Swagger UI at /, used as a person would. Screenshots go to artifacts/screenshots/.

Needs Playwright for Python (requirements-dev.txt) and Debian's chromium (`make install-dev` installs it
when it can); without them these tests are skipped, with the reason in pytest's summary. Playwright drives
the system Chromium: it never downloads a browser of its own.
"""

from __future__ import annotations

import base64
import os
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from core.labels import CLASS_NAMES
from tests.imaging import none_sample_files, photo_sample_files, sample_files, slug
from tooling.live_server import REPO_ROOT

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
SCREENSHOT_DIR = REPO_ROOT / "artifacts" / "screenshots"
TIMEOUT_MS = 30_000
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 375, "height": 740}

RESULTS_SCRIPT = """() => [...document.querySelectorAll('#results .result')].map((card) => ({
    name: card.querySelector('.file-name').textContent,
    state: card.dataset.state,
    label: card.querySelector('.top-label')?.textContent ?? null,
    bars: card.querySelectorAll('.bars .bar-row').length,
    barLabels: [...card.querySelectorAll('.bars .bar-label')].map((el) => el.textContent),
    topBar: card.querySelector('.bars .bar-row.top .bar-label')?.textContent ?? null,
    modelInput: [card.querySelector('.model-input').naturalWidth, card.querySelector('.model-input').naturalHeight],
    modelInputSrc: card.querySelector('.model-input').getAttribute('src') ?? '',
    photoInput: card.querySelector('.photo-figure').hidden ? null
        : [card.querySelector('.photo-input').naturalWidth, card.querySelector('.photo-input').naturalHeight],
    error: card.querySelector('.error').hidden ? null : card.querySelector('.error').textContent,
    noneOfTheTen: card.querySelector('.none-of-the-ten').hidden ? null
        : card.querySelector('.none-of-the-ten').textContent,
    flagged: card.classList.contains('flagged'),
}))"""


def chromium_executable() -> str:
    """The system Chromium, or a skip that says how to get it."""
    found = CHROMIUM_PATH if Path(CHROMIUM_PATH).is_file() else shutil.which("chromium")
    if not found:
        pytest.skip(
            f"no Chromium at {CHROMIUM_PATH} or on PATH: `make install-dev` installs Debian's chromium "
            "when run as root (scripts/install-browser.sh), or set CHROMIUM_PATH"
        )
    return found


@pytest.fixture(scope="session")
def browser() -> Iterator:
    sync_api = pytest.importorskip(
        "playwright.sync_api", reason="Playwright is not installed: pip install -r requirements-dev.txt"
    )
    executable = chromium_executable()
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=executable, headless=True)
        yield chromium
        chromium.close()


@dataclass
class Tab:
    """A browser page plus every console error and uncaught exception it logged."""

    page: object
    errors: list[str] = field(default_factory=list)

    def screenshot(self, name: str) -> Path:
        SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOT_DIR / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path


def open_tab(browser, viewport: dict) -> Tab:
    page = browser.new_page(viewport=viewport)
    page.set_default_timeout(TIMEOUT_MS)
    tab = Tab(page)
    page.on("console", lambda message: message.type == "error" and tab.errors.append(message.text))
    page.on("pageerror", lambda error: tab.errors.append(str(error)))
    # Playwright turns on file-chooser interception when the first listener is added, asynchronously: a
    # listener from the start means a chooser that opens at once (on a key press) is never missed.
    page.on("filechooser", lambda chooser: None)
    return tab


@pytest.fixture()
def demo(browser, live_server) -> Iterator[Tab]:
    """The demo page, loaded and ready, at desktop size."""
    tab = open_tab(browser, DESKTOP)
    tab.page.goto(f"{live_server}/app/")
    yield tab
    tab.page.close()


def wait_for_results(tab: Tab, count: int) -> list[dict]:
    """Once `count` cards exist and none is still waiting for its answer, what each shows."""
    tab.page.wait_for_function(
        "(n) => document.querySelectorAll('#results .result').length === n"
        " && !document.querySelector('#results .result[data-state=\"pending\"]')",
        arg=count,
    )
    return tab.page.evaluate(RESULTS_SCRIPT)


def assert_classified_as_the_model_does(card: dict, answers: dict[str, str]) -> None:
    """The page shows the class the shipped model gives the sample (conftest.sample_answers), with all its bars."""
    expected = answers[card["name"]]
    assert card["state"] == "done", card
    assert slug(card["label"]) == expected, f"{card['name']} shown as {card['label']}"
    assert card["bars"] == 10 and card["barLabels"] == list(CLASS_NAMES), card
    assert card["topBar"] == card["label"], "the answer's bar is the highlighted one"
    assert card["modelInput"] == [28, 28] and card["modelInputSrc"].startswith("data:image/png;base64,")
    # a photo also shows the colour crop the photo network saw; a Fashion-MNIST-sized image does not
    assert card["photoInput"] == ([64, 64] if "-photo" in card["name"] else None), card
    assert card["error"] is None
    assert card["noneOfTheTen"] is None and not card["flagged"], "a garment sample is not flagged"


FIRE_TRANSFER_SCRIPT = """([files, eventType]) => {
    const transfer = new DataTransfer();
    for (const file of files) {
        const bytes = Uint8Array.from(atob(file.base64), (c) => c.charCodeAt(0));
        transfer.items.add(new File([bytes], file.name, { type: 'image/png' }));
    }
    const event = eventType === 'paste'
        ? new ClipboardEvent('paste', { clipboardData: transfer, bubbles: true, cancelable: true })
        : new DragEvent(eventType, { dataTransfer: transfer, bubbles: true, cancelable: true });
    document.getElementById('drop-zone').dispatchEvent(event);
    return event.defaultPrevented;
}"""


def as_transfer_files(paths: list[Path]) -> list[dict]:
    """What the page script above turns back into File objects, as a person's drop or paste carries them."""
    return [{"name": p.name, "base64": base64.b64encode(p.read_bytes()).decode("ascii")} for p in paths]


# --- The demo page ---


def test_demo_page_classifies_every_sample_chosen_at_once(demo, sample_answers):
    samples = sample_files() + photo_sample_files()
    demo.page.set_input_files("#file-input", [str(p) for p in samples])
    cards = wait_for_results(demo, len(samples))
    demo.screenshot("demo-all-samples")
    assert sorted(card["name"] for card in cards) == sorted(p.name for p in samples)
    for card in cards:
        assert_classified_as_the_model_does(card, sample_answers)
    assert demo.page.locator("#status").inner_text() == f"{len(samples)} images classified."
    assert demo.errors == []


def test_a_picture_of_none_of_the_ten_is_said_to_be_so_with_its_closest_class(demo, sample_answers):
    """samples/none-of-the-ten/ (a hat, shorts, a skirt): the page says plainly that the picture is none of the ten
    classes, and still shows the closest one and every bar."""
    samples = [path for path in none_sample_files() if path.stem in ("hat", "shorts")]  # both flagged
    demo.page.set_input_files("#file-input", [str(p) for p in samples])
    cards = wait_for_results(demo, len(samples))
    demo.screenshot("demo-none-of-the-ten")
    for card in cards:
        assert card["state"] == "done" and card["flagged"], card
        assert card["noneOfTheTen"].startswith("This does not look like any of the ten classes"), card
        assert f"The closest is {card['label']}." in card["noneOfTheTen"]
        assert slug(card["label"]) == sample_answers[card["name"]] and card["bars"] == 10
        assert card["photoInput"] == [64, 64]
    assert demo.page.locator(".none-of-the-ten:visible").count() == len(samples)
    assert demo.errors == []


def test_unsupported_file_shows_the_apis_error(demo, sample_answers):
    readme = REPO_ROOT / "README.md"
    demo.page.set_input_files("#file-input", [str(readme), str(sample_files()[0])])
    cards = {card["name"]: card for card in wait_for_results(demo, 2)}
    demo.screenshot("demo-unsupported-file")
    error_card = cards["README.md"]
    assert error_card["state"] == "error" and error_card["bars"] == 0 and error_card["label"] is None
    assert "not a readable image" in error_card["error"]
    alert = demo.page.get_by_role("alert")
    assert alert.count() == 1 and alert.is_visible(), "the error is visible and announced"
    assert_classified_as_the_model_does(cards[sample_files()[0].name], sample_answers)
    assert "could not be classified" in demo.page.locator("#status").inner_text()
    # Chromium logs each 4xx answer; anything else (a script error, a CSP violation) is a bug.
    assert [e for e in demo.errors if "status of 400" not in e] == []


@pytest.mark.parametrize("event_type", ["drop", "paste"])
def test_drag_and_drop_and_paste_classify_too(demo, event_type, sample_answers):
    files = [p for p in sample_files() if p.name in ("sneaker.png", "bag.png")]
    handled = demo.page.evaluate(FIRE_TRANSFER_SCRIPT, [as_transfer_files(files), event_type])
    assert handled, f"the page takes over the {event_type} (the browser would otherwise open the file)"
    for card in wait_for_results(demo, 2):
        assert_classified_as_the_model_does(card, sample_answers)
    assert demo.errors == []


@pytest.mark.parametrize("key", ["Enter", "Space"])
def test_keyboard_alone_can_choose_files_and_clear(demo, key, sample_answers):
    page = demo.page
    page.locator("body").focus()
    page.keyboard.press("Tab")  # the header's link to Swagger UI
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "file-input"
    with page.expect_file_chooser() as chooser:
        page.keyboard.press(key)
    chooser.value.set_files(str(sample_files()[0]))
    assert_classified_as_the_model_does(wait_for_results(demo, 1)[0], sample_answers)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "clear-button"
    page.keyboard.press("Enter")
    assert page.locator("#results .result").count() == 0
    assert page.evaluate("document.activeElement.id") == "file-input", "focus goes back to the file chooser"


def test_fits_a_phone_screen(browser, live_server):
    tab = open_tab(browser, PHONE)
    try:
        tab.page.goto(f"{live_server}/app/")
        tab.page.set_input_files("#file-input", [str(p) for p in sample_files()[:2]])
        cards = wait_for_results(tab, 2)
        tab.screenshot("demo-phone")
        assert all(card["state"] == "done" for card in cards)
        widths = tab.page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
        assert widths[0] <= widths[1], f"no sideways scrolling on a {PHONE['width']} px screen: {widths}"
        button = tab.page.locator("label[for=file-input]").bounding_box()
        assert button["height"] >= 44, "a touch-sized target"
    finally:
        tab.page.close()


def test_content_security_policy_blocks_inline_code(demo):
    """The header is enforced: markup injected into the page cannot style (or script) anything inline."""
    violated = demo.page.evaluate("""() => new Promise((resolve) => {
        document.addEventListener('securitypolicyviolation', (e) => resolve(e.violatedDirective));
        const div = document.createElement('div');
        div.innerHTML = '<p style="color: red">x</p>';
        document.body.append(div);
        setTimeout(() => resolve(null), 2000);
    })""")
    assert violated is not None and violated.startswith("style-src")


# --- Swagger UI ---


def test_swagger_ui_lists_the_operations_and_tries_out_labels(browser, live_server):
    tab = open_tab(browser, DESKTOP)
    page = tab.page
    try:
        page.goto(f"{live_server}/")
        page.wait_for_selector(".opblock")
        paths = {
            page.locator(".opblock-summary-path").nth(i).inner_text().strip()
            for i in range(page.locator(".opblock-summary-path").count())
        }
        assert {"/model/metadata", "/model/labels", "/model/predict"} <= paths
        labels = page.locator(".opblock", has=page.locator(".opblock-summary-path", has_text="/model/labels"))
        labels.locator(".opblock-summary").first.click()
        labels.get_by_role("button", name="Try it out").click()
        labels.get_by_role("button", name="Execute").click()
        body = labels.locator(".live-responses-table .response-col_description pre").first
        body.wait_for()
        tab.screenshot("swagger-labels-try-it-out")
        text = body.inner_text()
        assert '"count": 10' in text
        for name in CLASS_NAMES:
            assert f'"{name}"' in text
    finally:
        tab.page.close()
