"""How well the none-of-the-ten score tells pictures of other things from garments, through the server's answers.

Usage: python -m training.none_of_the_ten [--photos-dir P] [--data-dir D] [--rate R ...]
prints, on the validation senders, the threshold at which each in-class flagged rate R is reached and what it
catches; NONE_OF_THE_TEN_THRESHOLD's default was chosen this way (docs/api.md). `make evaluate` reports the
chosen threshold on both held-out parts and on the Fashion-MNIST test set (none_of_the_ten_report).

In-class pictures are the garment photos of held-out senders; none-of-the-ten pictures the hat, shorts and skirt
photos of the same senders (training/photos.NONE_FOLDERS). The baseline is what a client could do without the
score: 1 − the top class's probability (Hendrycks & Gimpel's maximum-softmax baseline).
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from sklearn.metrics import roc_auc_score

import config
from core.images import ModelInputs
from core.model import Answers, ModelWrapper, split_outputs, to_model_batch, to_photo_batch
from training.dataset import add_data_dir_argument, load_split
from training.photos import PhotoSet, add_photos_dir_argument, all_senders, find_photos_root, load_photos
from training.senders import split_by_sender

logger = logging.getLogger("training.none_of_the_ten")

BATCH_SIZE = 256
HELD_OUT_PARTS = ("validation", "final_check")
DEFAULT_RATES = (0.05, 0.075, 0.10)


def auroc(in_class: np.ndarray, none_of_the_ten: np.ndarray) -> float | None:
    """The chance that a none-of-the-ten picture scores above an in-class one (0.5: no better than a coin)."""
    if not len(in_class) or not len(none_of_the_ten):
        return None
    truth = np.concatenate([np.zeros(len(in_class)), np.ones(len(none_of_the_ten))])
    return float(roc_auc_score(truth, np.concatenate([in_class, none_of_the_ten])))


def baseline_scores(answers: Answers) -> np.ndarray:
    """1 − the top class's probability: the score a client has without the eleventh output."""
    return 1.0 - answers.probabilities.max(axis=1)


def flagged_share(answers: Answers, threshold: float) -> float | None:
    return float(np.mean(answers.flagged(threshold))) if len(answers) else None


def threshold_for_rate(in_class_scores: np.ndarray, rate: float) -> float:
    """The lowest threshold that flags at most `rate` of these in-class scores."""
    return float(np.quantile(in_class_scores, 1.0 - rate, method="higher"))


def photo_answers(wrapper: ModelWrapper, photos: PhotoSet, batch_size: int = BATCH_SIZE) -> Answers:
    """The server's answers for these photos (ModelWrapper.infer_inputs: both networks on a photo)."""
    inputs = [ModelInputs(array, crop) for array, crop in zip(photos.images, photos.crops, strict=True)]
    return concatenate(
        [wrapper.infer_inputs(inputs[start : start + batch_size]) for start in range(0, len(inputs), batch_size)]
    )


def fashion_answers(wrapper: ModelWrapper, images: np.ndarray, batch_size: int = BATCH_SIZE) -> Answers:
    """The server's answers for Fashion-MNIST-sized uploads: the 28×28 network alone."""
    return concatenate(
        [
            split_outputs(wrapper.predict_batch(to_model_batch(images[start : start + batch_size])))
            for start in range(0, len(images), batch_size)
        ]
    )


def concatenate(parts: Sequence[Answers]) -> Answers:
    if not parts:
        return Answers(np.zeros((0, 10), np.float32), np.zeros(0, np.float32))
    return Answers(np.concatenate([p.probabilities for p in parts]), np.concatenate([p.none_scores for p in parts]))


def by_folder(answers: Answers, photos: PhotoSet, threshold: float) -> dict:
    """Per folder: photos and the share flagged."""
    flagged = answers.flagged(threshold)
    return {
        str(folder): {
            "photos": int((photos.folders == folder).sum()),
            "flagged": float(np.mean(flagged[photos.folders == folder])),
        }
        for folder in dict.fromkeys(photos.folders.tolist())
    }


def part_report(
    garments: Answers, garment_photos: PhotoSet, outliers: Answers, outlier_photos: PhotoSet, threshold: float
) -> dict:
    """One held-out part: the score's AUROC against the baseline's, and the shares flagged at the threshold."""
    return {
        "garment_photos": len(garments),
        "none_photos": len(outliers),
        "auroc": auroc(garments.none_scores, outliers.none_scores),
        "baseline_auroc": auroc(baseline_scores(garments), baseline_scores(outliers)),
        "flagged_garments": flagged_share(garments, threshold),
        "flagged_none": flagged_share(outliers, threshold),
        "garment_folders": by_folder(garments, garment_photos, threshold),
        "none_folders": by_folder(outliers, outlier_photos, threshold),
    }


def held_out_photos(photos_dir: Path | None) -> dict[str, tuple[PhotoSet, PhotoSet]]:
    """{'validation', 'final_check'} → (garment photos, none-of-the-ten photos) of those senders."""
    root = find_photos_root(photos_dir)
    population = all_senders(root)
    garments = split_by_sender(load_photos(root), population)
    outliers = split_by_sender(load_photos(root, none_of_the_ten=True), population)
    return {part: (garments[part], outliers[part]) for part in HELD_OUT_PARTS}


def none_of_the_ten_report(
    wrapper: ModelWrapper, photos: dict[str, tuple[PhotoSet, PhotoSet]] | None, test_images: np.ndarray
) -> dict:
    """make evaluate's section: the threshold served, each held-out part, and the Fashion-MNIST test set."""
    threshold = wrapper.settings.none_of_the_ten_threshold
    test = fashion_answers(wrapper, test_images)
    report: dict = {
        "threshold": threshold,
        "fashion_mnist_test": {"images": len(test), "flagged": flagged_share(test, threshold)},
    }
    for part, (garment_photos, outlier_photos) in (photos or {}).items():
        report[part] = part_report(
            photo_answers(wrapper, garment_photos),
            garment_photos,
            photo_answers(wrapper, outlier_photos),
            outlier_photos,
            threshold,
        )
    return report


def network_aurocs(wrapper: ModelWrapper, garments: PhotoSet, outliers: PhotoSet) -> dict[str, float | None]:
    """Each network's own p(none), alone, on the same photos: what the combination adds."""

    def alone(photos: PhotoSet) -> dict[str, np.ndarray]:
        scores = {"fashion_mnist": split_outputs(wrapper.predict_batch(to_model_batch(photos.images))).none_scores}
        if wrapper.photo_network:
            scores["photo"] = split_outputs(wrapper.predict_photo_batch(to_photo_batch(photos.crops))).none_scores
        return scores

    inside, outside = alone(garments), alone(outliers)
    return {name: auroc(inside[name], outside[name]) for name in inside}


def threshold_table(garments: Answers, outliers: Answers, test: Answers, rates: Sequence[float]) -> list[dict]:
    """For each in-class flagged rate: the threshold on these garments, and what it flags of each kind."""
    rows = []
    for rate in rates:
        threshold = threshold_for_rate(garments.none_scores, rate)
        rows.append(
            {
                "rate": rate,
                "threshold": threshold,
                "flagged_garments": flagged_share(garments, threshold),
                "flagged_none": flagged_share(outliers, threshold),
                "flagged_fashion_mnist": flagged_share(test, threshold),
            }
        )
    return rows


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_data_dir_argument(parser)
    add_photos_dir_argument(parser)
    parser.add_argument(
        "--rate",
        type=float,
        nargs="+",
        default=DEFAULT_RATES,
        help="in-class flagged rates to find thresholds for (default: %(default)s)",
    )
    parser.add_argument(
        "--fashion-mnist-split",
        choices=("validation", "test"),
        default="validation",
        help="which Fashion-MNIST images the table's last column flags: the 28×28 network's "
        "validation split (default; the test set is read by make evaluate only) or test",
    )
    return parser.parse_args(argv)


def fashion_validation_images(data_dir: str | None) -> np.ndarray:
    """The 28×28 network's own validation split of the training set (training/train.py's defaults)."""
    from training.train import parse_args as train_arguments
    from training.train import split_train_validation

    defaults = train_arguments([])
    images, labels = load_split("train", data_dir)
    return split_train_validation(images, labels, defaults.val_size, defaults.seed)[1][0]


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    args = parse_args(argv)
    wrapper = ModelWrapper(config.SETTINGS.replace(max_batch_size=1))
    garment_photos, outlier_photos = held_out_photos(args.photos_dir)["validation"]
    images = (
        fashion_validation_images(args.data_dir)
        if args.fashion_mnist_split == "validation"
        else load_split("test", args.data_dir)[0]
    )
    garments, outliers = photo_answers(wrapper, garment_photos), photo_answers(wrapper, outlier_photos)
    logger.info(
        "validation senders: %d garment photos, %d none-of-the-ten photos; AUROC %.3f (baseline %.3f)",
        len(garments),
        len(outliers),
        auroc(garments.none_scores, outliers.none_scores),
        auroc(baseline_scores(garments), baseline_scores(outliers)),
    )
    logger.info("each network alone: AUROC %s", network_aurocs(wrapper, garment_photos, outlier_photos))
    for row in threshold_table(garments, outliers, fashion_answers(wrapper, images), args.rate):
        logger.info(
            "in-class rate %.3f: threshold %.4f flags %.1f %% of garments, %.1f %% of none-of-the-ten "
            "photos, %.2f %% of Fashion-MNIST %s images",
            row["rate"],
            row["threshold"],
            100 * row["flagged_garments"],
            100 * row["flagged_none"],
            100 * row["flagged_fashion_mnist"],
            args.fashion_mnist_split,
        )


if __name__ == "__main__":
    main()
