"""The epoch loop the training runs share (train.py, train_photo.py, train_none.py): a checkpoint after every
epoch, resuming from it, keeping the best epoch's weights by a validation score.

After every epoch --checkpoint-dir holds the trainer (network, optimizer state), the history and the best
weights so far; --resume carries on from there. Each epoch's data comes from the caller's generator seeded by
(seed, epoch), so a resumed run sees what an uninterrupted one would.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from collections.abc import Callable
from pathlib import Path

import keras

logger = logging.getLogger(__name__)

CHECKPOINT_FILE = "trainer.keras"
STATE_FILE = "state.json"
BEST_WEIGHTS_FILE = "best.weights.h5"
LOG_EVERY_STEPS = 100


def add_checkpoint_arguments(parser: argparse.ArgumentParser, default_dir: Path | None, default_doc: str) -> None:
    """--checkpoint-dir (default_dir; None: the run decides, as default_doc says) and --resume."""
    parser.add_argument(
        "--checkpoint-dir",
        type=Path,
        default=default_dir,
        help=f"checkpoint after every epoch (default: {default_doc})",
    )
    parser.add_argument("--resume", action="store_true", help="carry on from the checkpoint in --checkpoint-dir")


def resume_state(args: argparse.Namespace, build: Callable[[], keras.Model]) -> tuple[keras.Model, dict]:
    """The checkpointed trainer and history, or a fresh trainer when not resuming (or nothing is there)."""
    checkpoint, state_path = args.checkpoint_dir / CHECKPOINT_FILE, args.checkpoint_dir / STATE_FILE
    if args.resume and checkpoint.is_file() and state_path.is_file():
        state = json.loads(state_path.read_text())
        logger.info("resuming after epoch %d from %s", state["epochs_done"], checkpoint)
        return keras.saving.load_model(checkpoint), state
    return build(), {"epochs_done": 0, "history": [], "best": None}


def save_checkpoint(
    args: argparse.Namespace, trainer: keras.Model, network: keras.Model, state: dict, improved: bool
) -> None:
    """The trainer and the state; the network's weights too when this epoch is the best so far."""
    args.checkpoint_dir.mkdir(parents=True, exist_ok=True)
    if improved:
        network.save_weights(args.checkpoint_dir / BEST_WEIGHTS_FILE)
    trainer.save(args.checkpoint_dir / CHECKPOINT_FILE)
    (args.checkpoint_dir / STATE_FILE).write_text(json.dumps(state, indent=2))


def train_epochs(
    args: argparse.Namespace,
    trainer: keras.Model,
    network: keras.Model,
    state: dict,
    fit_epoch: Callable[[int], dict],
    score: Callable[[], dict],
    keep_last: bool = False,
) -> dict:
    """Epochs from the last one done to args.epochs: fit, score (a dict with "selection_score"), checkpoint;
    then the network gets the best epoch's weights back, or with `keep_last` the last epoch's (a refit, whose
    validation photos are trained on and so cannot choose). Returns the state (history, kept epoch)."""
    for epoch in range(state["epochs_done"], args.epochs):
        epoch_started = time.perf_counter()
        fitted = fit_epoch(epoch)
        scores = score()
        entry = {"epoch": epoch + 1, **fitted, **scores, "seconds": round(time.perf_counter() - epoch_started, 1)}
        improved = keep_last or state["best"] is None or scores["selection_score"] > state["best"]["selection_score"]
        if improved:
            state["best"] = {"best_epoch": epoch + 1, **scores}
        state["history"].append(entry)
        state["epochs_done"] = epoch + 1
        save_checkpoint(args, trainer, network, state, improved)
        logger.info("epoch %d/%d: %s", epoch + 1, args.epochs, json.dumps(entry))
    network.load_weights(args.checkpoint_dir / BEST_WEIGHTS_FILE)
    return state


class ProgressLog(keras.callbacks.Callback):
    """A log line every LOG_EVERY_STEPS steps, so a long epoch on a CPU shows it is alive."""

    def __init__(self, epoch: int, steps: int) -> None:
        super().__init__()
        self.epoch, self.steps, self.started = epoch, steps, time.perf_counter()

    def on_train_batch_end(self, batch: int, logs: dict | None = None) -> None:
        if (batch + 1) % LOG_EVERY_STEPS == 0:
            logs = logs or {}
            logger.info(
                "epoch %d step %d/%d loss %.4f accuracy %.4f (%.0f s)",
                self.epoch + 1,
                batch + 1,
                self.steps,
                logs.get("loss", float("nan")),
                logs.get("accuracy", float("nan")),
                time.perf_counter() - self.started,
            )


def fit_one_epoch(model: keras.Model, inputs, targets, batch_size: int, epoch: int) -> dict:
    """One pass over this epoch's data, in the order given (the caller shuffled it, seeded), logging progress;
    the epoch's last metrics."""
    steps = -(-len(inputs) // batch_size)
    history = model.fit(
        inputs,
        targets,
        batch_size=batch_size,
        epochs=1,
        shuffle=False,
        callbacks=[ProgressLog(epoch, steps)],
        verbose=0,
    )
    return {key: float(values[-1]) for key, values in history.history.items()}
