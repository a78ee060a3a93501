"""Per-file mutation scores from the last `make mutate` (mutmut's results under mutants/), as a Markdown table.

    python -m tooling.mutation_scores [PATH ...]    # default: core/ api/; a PATH is a folder or a .py file

Score = (killed + timeout) / (mutants that were tested); a file's untested mutants ("not checked": not run yet, or
left out by PATHS) are not counted. The survivors are listed under the table (`mutmut show NAME` shows each diff).
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

COLUMNS = ("killed", "timeout", "survived", "no tests", "suspicious", "segfault", "not checked")


def meta_files(paths: list[str]) -> list[tuple[str, Path]]:
    found = []
    for path in paths:
        source = Path(path)
        sources = [source] if source.suffix == ".py" else sorted(source.rglob("*.py"))
        found += [(str(s), Path("mutants") / f"{s}.meta") for s in sources]
    return [(source, meta) for source, meta in found if meta.is_file()]


def main(paths: list[str]) -> int:
    rows, survivors, total = [], [], Counter()
    for source, meta in meta_files(paths or ["core/", "api/"]):
        exit_codes = json.loads(meta.read_text())["exit_code_by_key"]
        counts = Counter(status_by_exit_code[code] for code in exit_codes.values())
        if not exit_codes or counts["not checked"] == len(exit_codes):
            continue
        survivors += sorted(k for k, code in exit_codes.items() if status_by_exit_code[code] == "survived")
        rows.append((source, counts))
        total += counts
    if not rows:
        print("No mutation results: run `make mutate` first.")
        return 1
    print("| module | " + " | ".join(COLUMNS) + " | score |")
    print("|---|" + "---:|" * (len(COLUMNS) + 1))
    for source, counts in [*rows, ("**all**", total)]:
        tested = sum(counts.values()) - counts["not checked"] - counts["skipped"]
        score = (counts["killed"] + counts["timeout"]) / tested if tested else 0.0
        print(f"| {source} | " + " | ".join(str(counts[c]) for c in COLUMNS) + f" | {score:.1%} |")
    if survivors:
        print(f"\nSurvivors ({len(survivors)}):")
        print("\n".join(f"  {name}" for name in survivors))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
