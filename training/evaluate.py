"""Measure the shipped model through the server's own code path; write its metrics, pictures and model card.

Usage: python -m training.evaluate [--data-dir D] [--photos-dir D] [--model PATH] [--runtimes auto tensorflow]
                                   [--output-dir assets]      (`make evaluate`)

Every figure comes from core.model.ModelWrapper fed with core.model.to_model_batch, exactly as the server
calls it: first the runtime INFERENCE_RUNTIME=auto serves (ONNX Runtime on the int8 export when that export was
made from this Keras file), then TensorFlow on the Keras file for comparison, each without and with flip
averaging, one network in memory at a time. Measured: the official Fashion-MNIST test set (scores.py), the
real-photo validation split (photo_validation.py; skipped with a warning when no photo folder is found) and
latency (latency.py). Writes into --output-dir:
  model_metrics.json    the figures, keyed by the Keras file's sha256 (the server reports them only for that
                        file; core.model_figures.served_figures picks the serving runtime's section)
  confusion_matrix.png  the test-set confusion matrix of the served runtime
  photo_failures.png    the misclassified held-out photos, as the model saw them: the validation part's, or
                        the final check's once the photo network was refitted on the validation photos
  MODEL_CARD.md         model_card.py's rendering of the figures and of the model's training record
Missing a target is reported, not an error: the exit code stays 0.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import shlex
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import NamedTuple

import numpy as np

import config
from core.checksum import verify_checksum
from core.images import ModelInputs
from core.labels import CLASS_NAMES
from core.model import ModelWrapper, split_outputs, to_model_batch, to_photo_batch
from core.model_figures import ModelMetrics, RuntimeFigures
from training import scores
from training.dataset import add_data_dir_argument, load_split
from training.latency import photo_latency, serving_latency
from training.model_card import RUNTIME_TITLES, percent, render_model_card, thousands
from training.network_summary import describe_network
from training.none_of_the_ten import held_out_photos as held_out_none_photos
from training.none_of_the_ten import none_of_the_ten_report
from training.photo_validation import ValidationPhotos, load_held_out_photos, save_photo_failures
from training.photos import (
    FOLDER_CLASSES,
    PhotoSet,
    PhotosNotFoundError,
    add_photos_dir_argument,
    allowed_mask,
    is_right,
)
from training.plots import plot_confusion_matrix
from training.record import read_training_record, training_record_path

logger = logging.getLogger("training.evaluate")

METRICS_FILE = "model_metrics.json"
CONFUSION_PNG = "confusion_matrix.png"
FAILURES_PNG = "photo_failures.png"
MODEL_CARD_FILE = "MODEL_CARD.md"
DEFAULT_BATCH_SIZE = 500
RUNTIME_CHOICES = ("auto", "onnxruntime", "tensorflow")
VERSION_KEYS = {"onnxruntime": "onnxruntime_version", "tensorflow": "tensorflow_version"}
# The served runtime's figures, copied to the top level (what core.model_figures.served_figures reads for a file
# without per-runtime sections, and what a reader of the file looks for first).
TOP_LEVEL_FIGURES = (
    "test_accuracy",
    "macro_f1",
    "expected_calibration_error",
    "latency_ms",
    "test_accuracy_flip_averaging",
    "expected_calibration_error_flip_averaging",
    "latency_ms_flip_averaging",
)
# (key, description, comparison, limit, stretch limit, unit), judged on the served runtime without flip averaging.
TARGETS = (
    ("test_accuracy", "Fashion-MNIST top-1 test accuracy", ">=", 0.945, 0.955, "share"),
    ("photo_validation_accuracy", "Photo validation top-1 accuracy (held-out senders)", ">=", 0.85, None, "share"),
    (
        "photo_final_check_accuracy",
        "Photo final check top-1 accuracy (other held-out senders)",
        ">=",
        0.85,
        None,
        "share",
    ),
    ("latency_batch_1_ms", "Latency at batch 1, ms per call", "<=", 2.0, None, "ms"),
    ("latency_batch_64_ms_per_image", "Latency at batch 64, ms per image", "<=", 0.3, None, "ms"),
    ("latency_photo_ms", "Latency of one photo (both networks), ms per call", "<=", 2.0, None, "ms"),
    ("none_auroc", "None-of-the-ten score AUROC, final check", ">=", 0.90, None, "number"),
    ("none_flagged", "None-of-the-ten photos flagged, final check", ">=", 0.75, None, "share"),
    ("none_garments_flagged", "Garment photos flagged, final check", "<=", 0.10, None, "share"),
    ("none_fashion_mnist_flagged", "Fashion-MNIST test images flagged", "<=", 0.01, None, "share"),
)
PHOTO_PARTS = ("validation", "final_check")
REFIT_NOT_JUDGED = "not judged: the photo network was refitted on these photos"


class Configuration(NamedTuple):
    """One serving configuration's probabilities on the test set and on each held-out photo part (None: no
    photos), and latency."""

    test: np.ndarray
    photos: dict[str, np.ndarray] | None
    latency: dict


class RuntimeRun(NamedTuple):
    """One runtime without and with flip averaging, and the file it ran."""

    model_file: str
    sha256: str  # of the file the runtime ran: the ONNX export for ONNX Runtime
    version: str
    plain: Configuration
    flipped: Configuration


class Measured(NamedTuple):
    """Everything measured: each runtime's run (the served one first), the test labels, the held-out photo
    parts, and on each part each network's own probabilities (the served runtime, no flip averaging)."""

    runs: dict[str, RuntimeRun]
    labels: np.ndarray
    photos: dict[str, ValidationPhotos] | None
    failures_shown: int = 0
    failures_part: str = "validation"
    networks: dict[str, dict[str, np.ndarray]] | None = None
    none_of_the_ten: dict | None = None


def predict_probabilities(wrapper: ModelWrapper, images: np.ndarray, batch_size: int) -> np.ndarray:
    """(N, 10) probabilities through ModelWrapper.predict_batch, the server's model call."""
    chunks = [
        split_outputs(wrapper.predict_batch(to_model_batch(images[start : start + batch_size]))).probabilities
        for start in range(0, len(images), batch_size)
    ]
    return np.concatenate(chunks) if chunks else np.zeros((0, len(CLASS_NAMES)), dtype=np.float32)


def predict_photo_probabilities(wrapper: ModelWrapper, photos: PhotoSet, batch_size: int) -> np.ndarray:
    """(N, 10) answers for photos exactly as the server gives them (ModelWrapper.infer_inputs: the 28×28
    network, and the photo network on the colour crop when it is on)."""
    inputs = [ModelInputs(array, crop) for array, crop in zip(photos.images, photos.crops, strict=True)]
    chunks = [
        wrapper.infer_inputs(inputs[start : start + batch_size]).probabilities
        for start in range(0, len(inputs), batch_size)
    ]
    return np.concatenate(chunks) if chunks else np.zeros((0, len(CLASS_NAMES)), dtype=np.float32)


def network_probabilities(wrapper: ModelWrapper, photos: PhotoSet) -> dict[str, np.ndarray]:
    """Each network alone on these photos, beside what the server answers: what the photo network adds."""
    alone = {"fashion_mnist": split_outputs(wrapper.predict_batch(to_model_batch(photos.images))).probabilities}
    if wrapper.photo_network:
        alone["photo"] = split_outputs(wrapper.predict_photo_batch(to_photo_batch(photos.crops))).probabilities
    return alone


def measure_none_of_the_ten(args: argparse.Namespace, test_images: np.ndarray) -> dict:
    """The served configuration's none-of-the-ten figures (training/none_of_the_ten.py): both held-out parts'
    garment and none-of-the-ten photos, and the test set (alone when the photos are not found)."""
    wrapper = open_wrapper(args.runtimes[0], args, flip_averaging=False)
    try:
        photos = held_out_none_photos(args.photos_dir)
    except PhotosNotFoundError as error:
        logger.warning("none-of-the-ten photos skipped: %s", error)
        photos = None
    return none_of_the_ten_report(wrapper, photos, test_images)


def runtime_version(runtime: str) -> str:
    """Latency figures only mean something next to the runtime version that produced them."""
    if runtime == "onnxruntime":
        import onnxruntime

        return str(onnxruntime.__version__)
    import tensorflow as tf

    return str(tf.__version__)


def open_wrapper(requested: str, args: argparse.Namespace, flip_averaging: bool) -> ModelWrapper:
    """The served model as the server builds it (sha256 verified, export checked), micro-batching off."""
    return ModelWrapper(
        config.SETTINGS.replace(
            model_path=args.model,
            model_sha256_path=args.checksum,
            model_metrics_path=args.output_dir / METRICS_FILE,
            tta_flip=flip_averaging,
            max_batch_size=1,
            inference_runtime=requested,
            onnx_model_path=args.onnx_model,
            onnx_model_sha256_path=args.onnx_checksum,
            intra_op_threads=evaluation_threads(),
            photo_network=args.photo_network,
        )
    )


def measure_runtime(
    requested: str, args: argparse.Namespace, test_images: np.ndarray, photos: dict[str, ValidationPhotos] | None
) -> tuple[str, RuntimeRun, dict | None]:
    """Both flip settings of the runtime `requested` resolves to, one network in memory at a time; and each
    network alone on the photos (without flip averaging)."""
    measured, networks = [], None
    for flip_averaging in (False, True):
        wrapper = open_wrapper(requested, args, flip_averaging)
        logger.info("measuring %s%s", wrapper.runtime, " with flip averaging" if flip_averaging else "")
        photo_answers = (
            {part: predict_photo_probabilities(wrapper, held.photos, args.batch_size) for part, held in photos.items()}
            if photos
            else None
        )
        latency = serving_latency(wrapper, test_images)
        if photos:
            latency.update(
                photo_latency(wrapper, photos["validation"].photos.images, photos["validation"].photos.crops)
            )
            if not flip_averaging:
                networks = {part: network_probabilities(wrapper, held.photos) for part, held in photos.items()}
        measured.append(
            Configuration(predict_probabilities(wrapper, test_images, args.batch_size), photo_answers, latency)
        )
        runtime = wrapper.runtime
        model_file, sha256 = (
            (args.onnx_model.name, wrapper.onnx_sha256)
            if runtime == "onnxruntime"
            else (args.model.name, wrapper.sha256)
        )
        del wrapper
    return runtime, RuntimeRun(model_file, sha256, runtime_version(runtime), *measured), networks


def measure_runtimes(
    args: argparse.Namespace, test_images: np.ndarray, photos: dict[str, ValidationPhotos] | None
) -> tuple[dict[str, RuntimeRun], dict | None]:
    """Each requested runtime once, in the order asked ("auto" first: it gives the top-level figures), and the
    served runtime's per-network photo accuracies."""
    runs: dict[str, RuntimeRun] = {}
    served_networks = None
    for requested in args.runtimes:
        if requested in runs:
            continue
        runtime, run, networks = measure_runtime(requested, args, test_images, photos)
        if runtime in runs:
            logger.info("%s resolves to %s, already measured", requested, runtime)
            continue
        runs[runtime] = run
        served_networks = served_networks if served_networks is not None else networks
    return runs, served_networks


def runtime_section(
    run: RuntimeRun, labels: np.ndarray, photos: dict[str, ValidationPhotos] | None, runtime: str
) -> RuntimeFigures:
    """One runtime's entry under "runtimes": what core.model_figures.served_figures hands the server when it serves."""
    plain, flipped = (scores.runtime_scores(c.test, labels) for c in (run.plain, run.flipped))
    section = {
        "model_file": run.model_file,
        "sha256": run.sha256,
        **plain,
        "latency_ms": run.plain.latency,
        "test_accuracy_flip_averaging": flipped["test_accuracy"],
        "expected_calibration_error_flip_averaging": flipped["expected_calibration_error"],
        "latency_ms_flip_averaging": run.flipped.latency,
        VERSION_KEYS[runtime]: run.version,
    }
    for part, held in (photos or {}).items():
        allowed = held.photos.allowed
        section[f"photo_{part}_accuracy"] = scores.photo_accuracy(run.plain.photos[part], allowed)
        section[f"photo_{part}_accuracy_flip_averaging"] = scores.photo_accuracy(run.flipped.photos[part], allowed)
    return section


def judge(comparison: str, limit: float | None, measured: float | None) -> bool | None:
    """Pass or fail; None when there is no limit or nothing was measured."""
    if limit is None or measured is None:
        return None
    return bool(measured >= limit if comparison == ">=" else measured <= limit)


def compute_targets(metrics: dict) -> dict:
    """Each target with its limit(s), the measured value and the verdicts, described for the card."""
    latency = metrics.get("latency_ms") or {}
    none_of_the_ten = metrics.get("none_of_the_ten") or {}
    final_none = none_of_the_ten.get("final_check") or {}
    measured = {
        "test_accuracy": metrics.get("test_accuracy"),
        "photo_validation_accuracy": (metrics.get("photo_validation") or {}).get("accuracy"),
        "photo_final_check_accuracy": (metrics.get("photo_final_check") or {}).get("accuracy"),
        "latency_batch_1_ms": latency.get("batch_1"),
        "latency_batch_64_ms_per_image": latency.get("batch_64_per_image"),
        "latency_photo_ms": latency.get("photo_batch_1"),
        "none_auroc": final_none.get("auroc"),
        "none_flagged": final_none.get("flagged_none"),
        "none_garments_flagged": final_none.get("flagged_garments"),
        "none_fashion_mnist_flagged": (none_of_the_ten.get("fashion_mnist_test") or {}).get("flagged"),
    }
    targets = {
        key: {
            "description": description,
            "comparison": comparison,
            "limit": limit,
            "stretch": stretch,
            "unit": unit,
            "measured": measured[key],
            "pass": judge(comparison, limit, measured[key]),
            "stretch_pass": judge(comparison, stretch, measured[key]),
        }
        for key, description, comparison, limit, stretch, unit in TARGETS
    }
    if (metrics.get("photo_network") or {}).get("refit"):
        targets["photo_validation_accuracy"].update({"pass": None, "stretch_pass": None, "note": REFIT_NOT_JUDGED})
    return targets


def photo_section(measured: Measured, part: str) -> dict | None:
    """The served runtime's figures on one held-out photo part (no flip averaging), each network's alone, and
    how the part was drawn."""
    if not measured.photos:
        return None
    runtime, served = next(iter(measured.runs.items()))
    held = measured.photos[part]
    report = scores.photo_report(served.plain.photos[part], held.photos.allowed, held.photos.folders, CLASS_NAMES)
    alone = (measured.networks or {}).get(part, {})
    for row in report["folders"]:
        members = held.photos.folders == row["folder"]
        row["networks"] = {
            name: scores.photo_accuracy(probabilities[members], held.photos.allowed[members])
            for name, probabilities in alone.items()
        }
    section = {
        "runtime": runtime,
        **held.settings,
        **report,
        "networks": {
            name: scores.photo_accuracy(probabilities, held.photos.allowed) for name, probabilities in alone.items()
        },
        "kids": kids_report(served.plain.photos[part], held.photos),
        "clothing_dataset_small": small_folders_report(served.plain.photos[part], held.photos),
        "any_footwear": any_footwear_report(served.plain.photos[part], held.photos),
    }
    if part == measured.failures_part:
        section.update(failures_image=FAILURES_PNG, failures_shown=measured.failures_shown)
    return section


def small_folders_report(probabilities: np.ndarray, photos: PhotoSet) -> dict:
    """The photos of clothing-dataset-small's seven in-class folders alone (extra/ left out): the kind of set
    the service is judged on."""
    members = np.isin(photos.folders, list(FOLDER_CLASSES))
    right = is_right(probabilities, photos.allowed)[members]
    return {
        "photos": int(members.sum()),
        "accuracy": scores.photo_accuracy(probabilities[members], photos.allowed[members]),
        "standard_error": scores.standard_error(right),
    }


def any_footwear_report(probabilities: np.ndarray, photos: PhotoSet) -> dict:
    """Every photo judged by its folder alone, any footwear class right for every shoe photo: the rule of this
    card's figures before the shoe kinds were labelled, to compare with them."""
    right = is_right(probabilities, np.stack([allowed_mask(folder) for folder in photos.folders]))
    return {"photos": len(right), "accuracy": float(right.mean()), "standard_error": scores.standard_error(right)}


def kids_report(probabilities: np.ndarray, photos: PhotoSet) -> dict | None:
    """Children's clothes (senders.tsv's kids column) against the rest."""
    if photos.kids is None or not photos.kids.any():
        return None
    right = is_right(probabilities, photos.allowed)
    return {
        group: {
            "photos": int(members.sum()),
            "accuracy": scores.photo_accuracy(probabilities[members], photos.allowed[members]),
            "standard_error": scores.standard_error(right[members]),
        }
        for group, members in (("kids", photos.kids), ("adults", ~photos.kids))
    }


def runtime_agreement(runs: dict[str, RuntimeRun]) -> dict | None:
    """How often the first two runtimes give the same class, without and with flip averaging."""
    if len(runs) < 2:
        return None
    (first, a), (second, b) = list(runs.items())[:2]
    return {
        "between": [first, second],
        **scores.top1_agreement(a.plain.test, b.plain.test),
        "flip_averaging": scores.top1_agreement(a.flipped.test, b.flipped.test),
    }


def build_metrics(measured: Measured, network: dict, provenance: dict) -> ModelMetrics:
    """The model_metrics.json document: the served runtime's figures at the top, every runtime under "runtimes".

    `provenance` names the files and the run: sha256 (the Keras file's, which the server checks), model_file,
    runtime_requested, training_record, evaluated_at and command.
    """
    runtime, served = next(iter(measured.runs.items()))
    sections = {
        name: runtime_section(run, measured.labels, measured.photos, name) for name, run in measured.runs.items()
    }
    metrics = {
        "sha256": provenance["sha256"],
        "model_file": provenance["model_file"],
        "runtime": runtime,
        **scores.fashion_mnist_report(served.plain.test, measured.labels, CLASS_NAMES),
        **{key: sections[runtime][key] for key in TOP_LEVEL_FIGURES},
        **{VERSION_KEYS[name]: section[VERSION_KEYS[name]] for name, section in sections.items()},
        "parameters": network["parameters"],
        "network": network,
        "runtimes": sections,
    }
    if agreement := runtime_agreement(measured.runs):
        metrics["runtime_agreement"] = agreement
    for part in PHOTO_PARTS:
        if photo := photo_section(measured, part):
            metrics[f"photo_{part}"] = photo
    if measured.none_of_the_ten:
        metrics["none_of_the_ten"] = measured.none_of_the_ten
    metrics = {**metrics, **provenance}
    metrics["targets"] = compute_targets(metrics)  # after the provenance: a refitted photo network is not judged
    return metrics


def metrics_to_json(metrics: ModelMetrics) -> str:
    """Indented JSON, but each list of numbers on one line so the confusion matrices stay readable."""
    text = json.dumps(metrics, indent=2)
    return (
        re.sub(
            r"\[\s+(-?[\d.]+(?:,\s+-?[\d.]+)*)\s+\]",
            lambda m: "[" + ", ".join(v.strip() for v in m.group(1).split(",")) + "]",
            text,
        )
        + "\n"
    )


def summary_lines(metrics: ModelMetrics) -> list[str]:
    """The end-of-run log: headline figures per runtime, then each target's verdict."""
    lines = [
        f"{name} ({s['model_file']}): test accuracy {s['test_accuracy']:.4f} (flip averaging "
        f"{s['test_accuracy_flip_averaging']:.4f}), ECE {s['expected_calibration_error']:.4f}, photo "
        f"validation {s.get('photo_validation_accuracy')}, final check {s.get('photo_final_check_accuracy')}, "
        f"batch 1 {s['latency_ms']['batch_1']:.3f} ms/call, "
        f"batch 64 {s['latency_ms']['batch_64_per_image']:.3f} ms/image"
        for name, s in metrics["runtimes"].items()
    ]
    verdicts = {True: "PASS", False: "FAIL", None: "not measured"}
    lines += [
        f"target {t['description']} {t['comparison']} {t['limit']}: measured {t['measured']} -> "
        f"{t.get('note') or verdicts[t['pass']]}"
        for t in metrics["targets"].values()
    ]
    return lines


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir_argument(parser)
    add_photos_dir_argument(parser)
    parser.add_argument("--model", type=Path, default=config.SETTINGS.model_path, help="the .h5 model to evaluate")
    parser.add_argument("--checksum", type=Path, default=None, help="its sha256 file (default: model + .sha256)")
    parser.add_argument(
        "--onnx-model",
        type=Path,
        default=config.SETTINGS.onnx_model_path,
        help="the int8 ONNX export of --model (training/export_onnx.py)",
    )
    parser.add_argument("--onnx-checksum", type=Path, default=None, help="its sha256 file (default: + .sha256)")
    parser.add_argument(
        "--no-photo-network",
        dest="photo_network",
        action="store_false",
        help="the 28×28 network alone (PHOTO_NETWORK=false), to see what the photo network adds",
    )
    parser.add_argument(
        "--runtimes",
        nargs="+",
        choices=RUNTIME_CHOICES,
        default=["auto", "tensorflow"],
        help="runtimes to measure, the first giving the top-level figures (default: auto, i.e. "
        "what the server runs, then tensorflow)",
    )
    parser.add_argument(
        "--output-dir",
        type=Path,
        default=config.SETTINGS.model_metrics_path.parent,
        help=f"where {METRICS_FILE}, {CONFUSION_PNG}, {FAILURES_PNG} and {MODEL_CARD_FILE} go",
    )
    parser.add_argument("--batch-size", type=int, default=DEFAULT_BATCH_SIZE)
    args = parser.parse_args(argv)
    args.checksum = args.checksum or args.model.with_name(args.model.name + ".sha256")
    args.onnx_checksum = args.onnx_checksum or args.onnx_model.with_name(args.onnx_model.name + ".sha256")
    return args


def photo_refit(record: dict) -> bool:
    """Whether the photo network learned from the validation senders' photos too (train_photo --refit), as its
    training record says: its validation figures then flatter it."""
    return bool(record.get("data", {}).get("photos", {}).get("refit", False))


def photo_members(record: dict) -> list[dict]:
    """The photo networks joined into the served one (training/photo_ensemble.py), each as file, sha256 and
    seed, as its training record says; [] for a single network."""
    return [
        {key: member.get(key) for key in ("model_file", "sha256", "seed")}
        for member in record.get("ensemble", {}).get("members", [])
    ]


def evaluation_threads() -> int:
    """The model's latency on the whole machine, as one worker serves it, unless INTRA_OP_THREADS says otherwise
    (the server's default shares the cores out between its workers)."""
    return config.SETTINGS.intra_op_threads if "INTRA_OP_THREADS" in os.environ else (os.cpu_count() or 1)


def failures_part(refit: bool) -> str:
    """The held-out part whose failures the sheet shows: validation, unless the photo network learned from it
    (a refit), when its few remaining failures say little and the final check's show what strangers' photos
    meet. Looking at the sheet tunes nothing; the final check stays read once per candidate model."""
    return "final_check" if refit else "validation"


def write_photo_failures(measured: Measured, output_dir: Path) -> Measured:
    """The served runtime's misclassified photos of one held-out part as a contact sheet; without photos, an
    older sheet goes (it would show another evaluation than the card describes)."""
    path = output_dir / FAILURES_PNG
    if measured.photos:
        served = next(iter(measured.runs.values()))
        part = measured.failures_part
        return measured._replace(
            failures_shown=save_photo_failures(
                served.plain.photos[part], measured.photos[part].photos, CLASS_NAMES, path
            )
        )
    if path.exists():
        logger.warning("removing %s: it shows an earlier evaluation's photos", path)
        path.unlink()
    return measured


def write_outputs(metrics: ModelMetrics, record: dict | None, output_dir: Path) -> None:
    """model_metrics.json, the confusion matrix picture and the model card."""
    (output_dir / METRICS_FILE).write_text(metrics_to_json(metrics))
    runtime = RUNTIME_TITLES.get(metrics["runtime"], metrics["runtime"])
    plot_confusion_matrix(
        np.asarray(metrics["confusion_matrix"]),
        CLASS_NAMES,
        output_dir / CONFUSION_PNG,
        title=f"Fashion-MNIST test set ({thousands(metrics['test_images'])} images), accuracy "
        f"{percent(metrics['test_accuracy'])}\n{runtime}",
    )
    (output_dir / MODEL_CARD_FILE).write_text(render_model_card(metrics, record))


def describe_photo_network() -> dict:
    """The served photo network as the card names it: file, sha256, weight, layers, refit and members."""
    path = config.SETTINGS.photo_model_path
    sha256 = verify_checksum(path, config.SETTINGS.photo_model_sha256_path)
    record = read_training_record(path, sha256) or {}
    return {
        "model_file": path.name,
        "sha256": sha256,
        "weight": config.SETTINGS.photo_network_weight,
        **describe_network(path),
        "refit": photo_refit(record),
        "members": photo_members(record),
    }


def main(argv: list[str] | None = None) -> dict:
    """Evaluate, write the four files, log a summary; returns the metrics document."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    started = time.perf_counter()
    sha256 = verify_checksum(args.model, args.checksum)
    record = read_training_record(args.model, sha256)
    photos = load_held_out_photos(args.photos_dir)
    images, labels = load_split("test", args.data_dir)
    runs, networks = measure_runtimes(args, images, photos)
    photo_network = describe_photo_network() if args.photo_network else None
    measured = Measured(
        runs,
        labels,
        photos,
        failures_part=failures_part(bool(photo_network and photo_network["refit"])),
        networks=networks,
        none_of_the_ten=measure_none_of_the_ten(args, images),
    )

    args.output_dir.mkdir(parents=True, exist_ok=True)
    measured = write_photo_failures(measured, args.output_dir)
    provenance = {
        "sha256": sha256,
        "model_file": args.model.name,
        "runtime_requested": args.runtimes[0],
        "training_record": training_record_path(args.model).name if record else None,
        "evaluated_at": datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
        "command": shlex.join(["python", "-m", "training.evaluate", *argv]),
    }
    if photo_network:
        provenance["photo_network"] = photo_network
    metrics = build_metrics(measured, describe_network(args.model), provenance)
    write_outputs(metrics, record, args.output_dir)
    logger.info(
        "%s", "\n".join([*summary_lines(metrics), f"wrote {args.output_dir} in {time.perf_counter() - started:.1f} s"])
    )
    return metrics


if __name__ == "__main__":
    main()
