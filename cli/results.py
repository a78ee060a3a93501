"""What `python -m cli classify` writes for each file: its outcome (Classified) and the CSV and JSON Lines writers.

The same fields whether the model ran in this process or answered over HTTP; probabilities rounded to
PROBABILITY_DECIMALS.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path
from typing import IO

FORMATS = ("csv", "jsonl")
PROBABILITY_DECIMALS = 6


@dataclass(frozen=True)
class Classified:
    """One input file's outcome: its predictions (most likely first) and none-of-the-ten record ({"score",
    "flagged"}), or why it was skipped."""

    path: Path
    predictions: list[dict] | None = None
    none_of_the_ten: dict | None = None
    error: str | None = None

    def answer(self) -> tuple[list[dict], dict]:
        """The predictions and the none-of-the-ten record of a file that was classified."""
        if self.predictions is None or self.none_of_the_ten is None:
            raise ValueError(f"{self.path} was not classified: {self.error}")
        return self.predictions, self.none_of_the_ten


def prediction_record(prediction: dict) -> dict:
    """The fields written per class, the same from the in-process model and from the API."""
    return {
        "label": prediction["label"],
        "label_id": prediction["label_id"],
        "probability": round(float(prediction["probability"]), PROBABILITY_DECIMALS),
    }


def none_of_the_ten_record(record: dict) -> dict:
    return {"score": round(float(record["score"]), PROBABILITY_DECIMALS), "flagged": bool(record["flagged"])}


def csv_header(top_k: int) -> list[str]:
    """path, then label_1, label_id_1, probability_1, ..., up to rank top_k (1 = most likely), then the
    none-of-the-ten score and flag (last, so the class columns keep their places)."""
    return [
        "path",
        *(f"{name}_{rank}" for rank in range(1, top_k + 1) for name in ("label", "label_id", "probability")),
        "none_of_the_ten_score",
        "none_of_the_ten_flagged",
    ]


class CsvWriter:
    def __init__(self, stream: IO[str], top_k: int) -> None:
        self._writer = csv.writer(stream, lineterminator="\n")
        self._writer.writerow(csv_header(top_k))

    def write(self, result: Classified) -> None:
        predictions, none_of_the_ten_answer = result.answer()
        cells = [value for p in predictions for value in prediction_record(p).values()]
        none_of_the_ten = none_of_the_ten_record(none_of_the_ten_answer)
        self._writer.writerow(
            [str(result.path), *cells, none_of_the_ten["score"], str(none_of_the_ten["flagged"]).lower()]
        )


class JsonlWriter:
    def __init__(self, stream: IO[str], top_k: int) -> None:
        self._stream = stream

    def write(self, result: Classified) -> None:
        predictions, none_of_the_ten = result.answer()
        record = {
            "path": str(result.path),
            "predictions": [prediction_record(p) for p in predictions],
            "none_of_the_ten": none_of_the_ten_record(none_of_the_ten),
        }
        self._stream.write(json.dumps(record) + "\n")


WRITERS: dict[str, type[CsvWriter] | type[JsonlWriter]] = {"csv": CsvWriter, "jsonl": JsonlWriter}
