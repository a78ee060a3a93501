"""Classify many image files from the command line: `python -m cli classify PATH...`.

PATHs are files, folders (searched recursively for image files) and globs (`'shots/**/*.jpg'`, quoted so
that the shell leaves them alone). By default the model runs in this process, a whole batch per forward
pass, with the server's own pre-processing; `--server URL` sends each image to a running service instead.
Results go to stdout or `--output FILE`, as CSV or JSON Lines; progress and warnings go to stderr.
A file that cannot be read as an image is skipped with a warning, and the exit status is then 1.

Exit status: 0 every file classified; 1 some input skipped (unreadable, or a path that matched nothing);
2 bad arguments; 3 the server could not be used.
"""

from __future__ import annotations

import argparse
import glob
import logging
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import IO, TYPE_CHECKING, Protocol

from cli.results import FORMATS, WRITERS, Classified, CsvWriter, JsonlWriter
from core.images import InvalidImageError, ModelInputs
from core.labels import NUM_CLASSES

if TYPE_CHECKING:
    import requests

    from core.model import ModelWrapper

logger = logging.getLogger("cli")

EXIT_OK, EXIT_SKIPPED, EXIT_USAGE, EXIT_SERVER = 0, 1, 2, 3
# What a folder is searched for: the formats the API accepts (core/images.py). A file named on the command
# line or matched by a glob is always tried, whatever its name.
IMAGE_SUFFIXES = frozenset({".jpg", ".jpeg", ".jpe", ".png", ".gif", ".bmp", ".dib", ".webp", ".tif", ".tiff", ".ico"})
# Images per forward pass when the model runs in this process.
DEFAULT_BATCH_SIZE = 256
# Classes written per image unless --top-k says otherwise (1: just the answer).
DEFAULT_TOP_K = 1
# With --server: requests in flight at once (the server's micro-batcher groups them), and seconds to wait for
# one answer.
DEFAULT_SERVER_CONCURRENCY = 4
SERVER_TIMEOUT_S = 60.0


class Classifier(Protocol):
    def classify(self, paths: Sequence[Path]) -> Iterator[Classified]: ...


class ServerError(RuntimeError):
    """The service cannot be reached or failed (not a problem with one image): the whole run stops."""


# --- Which files ---


def images_in(folder: Path) -> list[Path]:
    """Image files anywhere under `folder`, by suffix, in a stable (sorted) order."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def expand_path(pattern: str) -> list[Path]:
    """A file as it is, a folder's image files, or a glob's matches (folders among them searched too)."""
    path = Path(pattern)
    if path.is_dir():
        return images_in(path)
    if path.is_file():
        return [path]
    if not glob.has_magic(pattern):
        return []
    found: list[Path] = []
    for match in sorted(glob.glob(pattern, recursive=True)):
        found.extend(images_in(Path(match)) if Path(match).is_dir() else [Path(match)])
    return found


def expand_paths(patterns: Iterable[str]) -> tuple[list[Path], list[str]]:
    """Every file to classify (each once, in the order given) and the patterns that found none."""
    files: list[Path] = []
    seen: set[Path] = set()
    unmatched: list[str] = []
    for pattern in patterns:
        found = expand_path(pattern)
        if not found:
            unmatched.append(pattern)
        for path in found:
            if path.resolve() not in seen:
                seen.add(path.resolve())
                files.append(path)
    return files, unmatched


# --- Classifying them ---


def read_error(error: OSError) -> str:
    return f"cannot read the file: {error.strerror or error}"


def batched(items: Sequence, size: int) -> Iterator[Sequence]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


class InProcessClassifier:
    """The server's pre-processing per file, then one forward pass per batch: no server, no HTTP."""

    def __init__(self, model: ModelWrapper, top_k: int, batch_size: int = DEFAULT_BATCH_SIZE) -> None:
        self.model, self.top_k, self.batch_size = model, top_k, batch_size

    def classify(self, paths: Sequence[Path]) -> Iterator[Classified]:
        for chunk in batched(paths, self.batch_size):
            yield from self._classify_batch(chunk)

    def _classify_batch(self, paths: Sequence[Path]) -> list[Classified]:
        """The model's three stages (ModelWrapper: preprocess, infer_inputs, postprocess) on a batch of files,
        one forward pass for those that could be read."""
        prepared = [self._prepare(path) for path in paths]
        inputs = [item for item in prepared if isinstance(item, ModelInputs)]
        if not inputs:  # every file skipped: each item is why
            return [Classified(path, error=str(item)) for path, item in zip(paths, prepared, strict=True)]
        records = iter(self.model.postprocess(self.model.infer_inputs(inputs), self.top_k))
        return [
            Classified(path, **next(records)) if isinstance(item, ModelInputs) else Classified(path, error=item)
            for path, item in zip(paths, prepared, strict=True)
        ]

    def _prepare(self, path: Path) -> ModelInputs | str:
        """The networks' inputs, or why there are none."""
        try:
            return self.model.preprocess(path.read_bytes())
        except OSError as error:
            return read_error(error)
        except InvalidImageError as error:
            return str(error)


class ServerClassifier:
    """Each file sent to a running service's POST /model/predict, a few at a time."""

    def __init__(
        self,
        base_url: str,
        top_k: int,
        concurrency: int = DEFAULT_SERVER_CONCURRENCY,
        timeout: float = SERVER_TIMEOUT_S,
    ) -> None:
        self.url = base_url.rstrip("/") + "/model/predict"
        self.top_k, self.concurrency, self.timeout = top_k, concurrency, timeout
        self._local = threading.local()  # one requests.Session (connection pool) per thread

    def classify(self, paths: Sequence[Path]) -> Iterator[Classified]:
        pool = ThreadPoolExecutor(max_workers=self.concurrency, thread_name_prefix="classify")
        try:
            yield from pool.map(self._classify_one, paths)
        finally:
            pool.shutdown(wait=True, cancel_futures=True)  # after a ServerError, send nothing more

    def _session(self) -> requests.Session:
        import requests

        if not hasattr(self._local, "session"):
            self._local.session = requests.Session()
        return self._local.session

    def _classify_one(self, path: Path) -> Classified:
        import requests

        try:
            data = path.read_bytes()
        except OSError as error:
            return Classified(path, error=read_error(error))
        try:
            response = self._session().post(
                self.url, files={"image": (path.name, data)}, data={"top_k": str(self.top_k)}, timeout=self.timeout
            )
        except requests.RequestException as error:
            raise ServerError(f"cannot reach {self.url}: {error}") from error
        if response.status_code in (400, 413):  # this image's fault: skip it, go on with the others
            return Classified(path, error=error_message(response))
        if not response.ok:
            raise ServerError(f"{self.url} answered {response.status_code}: {error_message(response)}")
        answer = response.json()
        return Classified(path, predictions=answer["predictions"], none_of_the_ten=answer["none_of_the_ten"])


def error_message(response: requests.Response) -> str:
    """The API's {"status": "error", "message": ...}, or the raw status where something else answered."""
    try:
        return str(response.json()["message"])
    except (ValueError, KeyError, TypeError):
        return f"HTTP {response.status_code} {response.reason}"


# --- The command ---


def top_k_argument(text: str) -> int:
    value = int(text)
    if not 1 <= value <= NUM_CLASSES:
        raise argparse.ArgumentTypeError(f"must be 1-{NUM_CLASSES}")
    return value


def positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m cli", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    commands = parser.add_subparsers(dest="command", required=True)
    classify = commands.add_parser(
        "classify",
        help="classify image files, folders and globs",
        description="Classify image files, folders (recursively) and globs.",
    )
    classify.add_argument("paths", nargs="+", metavar="PATH", help="an image file, a folder, or a glob")
    classify.add_argument("--format", choices=FORMATS, default="csv", help="output format (default: csv)")
    classify.add_argument("--output", "-o", type=Path, help="write the results here instead of stdout")
    classify.add_argument(
        "--top-k",
        type=top_k_argument,
        default=DEFAULT_TOP_K,
        help=f"classes per image, most likely first (1-{NUM_CLASSES}, default {DEFAULT_TOP_K})",
    )
    classify.add_argument(
        "--batch-size",
        type=positive_int,
        default=DEFAULT_BATCH_SIZE,
        help=f"images per forward pass in-process (default {DEFAULT_BATCH_SIZE})",
    )
    classify.add_argument(
        "--server",
        metavar="URL",
        help="send the images to this running service (e.g. http://localhost:5000) instead of loading the model here",
    )
    classify.add_argument(
        "--concurrency",
        type=positive_int,
        default=DEFAULT_SERVER_CONCURRENCY,
        help=f"with --server: requests in flight (default {DEFAULT_SERVER_CONCURRENCY})",
    )
    classify.add_argument("--quiet", "-q", action="store_true", help="no progress bar, warnings only")
    return parser


def make_classifier(args: argparse.Namespace, model: ModelWrapper | None = None) -> Classifier:
    """Loading the model takes seconds (TensorFlow), so it happens only when no server is given."""
    if args.server:
        return ServerClassifier(args.server, args.top_k, args.concurrency)
    if model is None:
        from config import SETTINGS
        from core.model import ModelWrapper

        # max_batch_size=1: no micro-batcher thread; this process makes its own batches.
        model = ModelWrapper(SETTINGS.replace(max_batch_size=1))
    return InProcessClassifier(model, args.top_k, args.batch_size)


def classify_files(
    classifier: Classifier, paths: Sequence[Path], writer: CsvWriter | JsonlWriter, show_progress: bool
) -> int:
    """Write each classified file, warn about each skipped one; returns how many were skipped."""
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    skipped = 0
    with (
        logging_redirect_tqdm(),
        tqdm(total=len(paths), unit="img", disable=not show_progress, file=sys.stderr, dynamic_ncols=True) as progress,
    ):
        for result in classifier.classify(paths):
            if result.error is None:
                writer.write(result)
            else:
                skipped += 1
                logger.warning("skipped %s: %s", result.path, result.error)
            progress.update(1)
    return skipped


def open_output(path: Path | None, stack: ExitStack) -> IO[str]:
    if path is None:
        return sys.stdout
    return stack.enter_context(path.open("w", encoding="utf-8", newline=""))


def run_classify(args: argparse.Namespace, model: ModelWrapper | None = None) -> int:
    """The classify command; returns the exit status."""
    paths, unmatched = expand_paths(args.paths)
    for pattern in unmatched:
        logger.warning("no image file at or matching %s", pattern)
    if not paths:
        logger.error("nothing to classify")
        return EXIT_SKIPPED
    try:
        classifier = make_classifier(args, model)
        started = time.perf_counter()
        with ExitStack() as stack:
            writer = WRITERS[args.format](open_output(args.output, stack), args.top_k)
            skipped = classify_files(classifier, paths, writer, show_progress=not args.quiet)
    except ServerError as error:
        logger.error("%s", error)
        return EXIT_SERVER
    return report(len(paths), skipped, unmatched, time.perf_counter() - started)


def report(total: int, skipped: int, unmatched: list[str], seconds: float) -> int:
    """One summary line; the exit status says whether anything was left out."""
    done = total - skipped
    logger.info(
        "classified %d of %d files in %.2f s (%.0f images/s)",
        done,
        total,
        seconds,
        done / seconds if seconds > 0 else 0.0,
    )
    if skipped or unmatched:
        logger.warning("%d unreadable file(s) skipped, %d path(s) matched no image file", skipped, len(unmatched))
        return EXIT_SKIPPED
    return EXIT_OK


def configure_logging(quiet: bool) -> None:
    """Log lines on stderr, next to the progress bar; stdout holds only the results."""
    logging.basicConfig(stream=sys.stderr, format="%(levelname)s %(name)s: %(message)s")
    logging.getLogger().setLevel(logging.WARNING if quiet else logging.INFO)


def main(argv: Sequence[str] | None = None, model: ModelWrapper | None = None) -> int:
    """Entry point; `model` lets tests supply one already loaded."""
    args = build_parser().parse_args(argv)
    configure_logging(args.quiet)
    return run_classify(args, model)
