"""The model card: training/model_card.md.j2 rendered from the metrics document and the training record only.

Nothing else is read (no file, clock or environment), so the card can never disagree with the figures it is
given, and a missing figure is an error (StrictUndefined) rather than a silently empty cell.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Callable
from pathlib import Path

from jinja2 import Environment, FileSystemLoader, StrictUndefined, Undefined, select_autoescape

from core.labels import CLASS_NAMES
from core.model_figures import ModelMetrics
from training.photos import ALL_FOLDER_CLASSES

TEMPLATE_DIR = Path(__file__).resolve().parent
TEMPLATE = "model_card.md.j2"
NOT_MEASURED = "not measured"
RUNTIME_TITLES = {"onnxruntime": "ONNX Runtime (int8 ONNX export)", "tensorflow": "TensorFlow (float32 Keras file)"}


def percent(value: float | None, digits: int = 2) -> str:
    """0.9393 → '93.93 %'."""
    return NOT_MEASURED if value is None else f"{100 * value:.{digits}f} %"


def four(value: float | None) -> str:
    return NOT_MEASURED if value is None else f"{value:.4f}"


def milliseconds(value: float | None) -> str:
    return NOT_MEASURED if value is None else f"{value:.3f}"


def thousands(value: int | None) -> str:
    """10000 → '10 000', the SI grouping used throughout the card."""
    return NOT_MEASURED if value is None else f"{int(value):,}".replace(",", " ")


def times(slow: float | None, fast: float | None) -> str:
    """How many times slower: 0.34 over 0.17 → '×2.00'."""
    return f"×{slow / fast:.2f}" if slow is not None and fast else NOT_MEASURED


def argument_value(value: object) -> str:
    """A training argument as it was given: strings bare, everything else as JSON (lists, booleans, null)."""
    return value if isinstance(value, str) else json.dumps(value)


def target_value(value: float | None, unit: str) -> str:
    if value is None:
        return NOT_MEASURED
    if unit == "number":
        return f"{value:.3f}"
    return percent(value) if unit == "share" else f"{milliseconds(value)} ms"


def verdict(passed: bool | None) -> str:
    return {True: "PASS", False: "FAIL", None: NOT_MEASURED}[passed]


NETWORK_TITLES = {"fashion_mnist": "the 28×28 network", "photo": "the photo network"}


def runtime_rows(metrics: ModelMetrics) -> list[dict]:
    """Each measured runtime with its card title, the served one (the top-level figures) first."""
    served = metrics["runtime"]
    sections = metrics["runtimes"]
    order = [served, *(name for name in sections if name != served)]
    return [
        {"name": name, "title": RUNTIME_TITLES.get(name, name), "served": name == served, **sections[name]}
        for name in order
    ]


def folder_rows() -> list[dict]:
    """The photo folders and the classes each counts as right (training.photos.ALL_FOLDER_CLASSES)."""
    return [
        {"folder": folder, "classes": [f"{CLASS_NAMES[i]} ({i})" for i in ids]}
        for folder, ids in ALL_FOLDER_CLASSES.items()
    ]


def strict(function: Callable[..., str]) -> Callable[..., str]:
    """A filter given a missing value fails as the template itself would (UndefinedError naming the key),
    rather than formatting it or failing with a TypeError."""

    @functools.wraps(function)
    def checked(*values: object) -> str:
        for value in values:
            if isinstance(value, Undefined):
                str(value)  # StrictUndefined raises here
        return function(*values)

    return checked


def card_environment() -> Environment:
    """Markdown, not HTML: nothing is escaped (autoescape only for .html/.xml templates)."""
    environment = Environment(
        loader=FileSystemLoader(TEMPLATE_DIR),
        undefined=StrictUndefined,
        keep_trailing_newline=True,
        trim_blocks=True,
        lstrip_blocks=True,
        autoescape=select_autoescape(enabled_extensions=("html", "xml")),
    )
    filters = {
        "percent": percent,
        "four": four,
        "ms": milliseconds,
        "thousands": thousands,
        "argument": argument_value,
        "target": target_value,
        "verdict": verdict,
    }
    environment.filters.update({name: strict(function) for name, function in filters.items()})
    environment.globals["times"] = strict(times)
    return environment


def ten_class_refit(record: dict | None) -> bool:
    """Whether the 28×28 network learned from the validation senders' photos too (train --refit): its
    validation figures then flatter it, and the last epoch was kept."""
    return bool(((record or {}).get("data") or {}).get("photos", {}).get("refit", False))


def validation_learned_by(metrics: ModelMetrics, record: dict | None) -> str:
    """Which networks' refits learned from the validation senders' photos ("" when none did): the card must not
    call those photos held out."""
    photo_refit = bool((metrics.get("photo_network") or {}).get("refit", False))
    refits = {
        (True, True): "both networks' refits",
        (True, False): "only the photo network's refit",
        (False, True): "only the 28×28 network's refit",
    }
    return refits.get((photo_refit, ten_class_refit(record)), "")


def used_drawn_backpacks(record: dict | None) -> bool:
    """Whether the none-of-the-ten stage was shown drawn backpacks (make train gives both networks the same)."""
    return bool((((record or {}).get("none_of_the_ten") or {}).get("data") or {}).get("drawn_backpacks"))


def render_model_card(metrics: ModelMetrics, record: dict | None) -> str:
    """The card as Markdown. `record` is the model's training record, or None when it was not recorded."""
    return (
        card_environment()
        .get_template(TEMPLATE)
        .render(
            m=metrics,
            record=record,
            runtimes=runtime_rows(metrics),
            folders=folder_rows(),
            class_names=CLASS_NAMES,
            date=str(metrics["evaluated_at"])[:10],
            weakest=sorted(metrics["per_class"], key=lambda row: row["f1"])[:3],
            photo=metrics.get("photo_validation"),
            final_check=metrics.get("photo_final_check"),
            network_titles=NETWORK_TITLES,
            refit_28=ten_class_refit(record),
            validation_learned_by=validation_learned_by(metrics, record),
            drawn_backpacks=used_drawn_backpacks(record),
        )
    )
