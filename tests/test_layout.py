"""The layout rules a newcomer relies on: dependencies point one way, tools run as modules, modules stay small."""

import ast
import subprocess
from pathlib import Path

import pytest

import config

# training/ is exempt: its model code is split by the model issue. 400 lines in the compact layout of before ruff
# format; its one-argument-per-line wrapping adds 10-25 % to the same code.
MAX_MODULE_LINES = 450


def tracked_python_files() -> list[Path]:
    listed = subprocess.run(
        ["git", "ls-files", "*.py"], cwd=config.REPO_ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    return [config.REPO_ROOT / name for name in listed if (config.REPO_ROOT / name).is_file()]


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def top_folder(path: Path) -> str:
    relative = path.relative_to(config.REPO_ROOT)
    return relative.parts[0] if len(relative.parts) > 1 else relative.name


@pytest.fixture(scope="module")
def python_files() -> list[Path]:
    files = tracked_python_files()
    if not files:
        pytest.skip("not a git checkout")
    return files


def test_no_module_edits_sys_path(python_files):
    """Tools run as modules from the checkout (`python -m benchmarks.bench`), so none needs a path edit."""
    offenders = [
        str(p.relative_to(config.REPO_ROOT))
        for p in python_files
        if any(f"sys.path.{verb}(" in p.read_text() for verb in ("insert", "append"))
    ]
    assert not offenders


def test_only_the_tests_import_the_tests(python_files):
    offenders = [
        str(p.relative_to(config.REPO_ROOT))
        for p in python_files
        if top_folder(p) != "tests"
        and any(name == "tests" or name.startswith("tests.") for name in imported_modules(p))
    ]
    assert not offenders


def test_the_domain_code_knows_nothing_of_http_or_the_command_line(python_files):
    core = [p for p in python_files if top_folder(p) == "core"]
    offenders = {
        str(p.relative_to(config.REPO_ROOT)): sorted(
            n
            for n in imported_modules(p)
            if n.split(".")[0] in ("flask", "flask_restx", "api", "cli", "app", "argparse")
        )
        for p in core
    }
    assert not {k: v for k, v in offenders.items() if v}


def test_modules_stay_small(python_files):
    big = {
        str(p.relative_to(config.REPO_ROOT)): n
        for p in python_files
        if top_folder(p) != "training" and (n := len(p.read_text().splitlines())) > MAX_MODULE_LINES
    }
    assert not big


# The pre-processing stages core.images runs in turn (its docstring numbers them): none calls back up into it.
PREPROCESSING_STAGES = (
    "core.background",
    "core.skin",
    "core.components",
    "core.garment_box",
    "core.photo_crop",
    "core.tilt",
    "core.worn_top",
)


def core_imports(python_files: list[Path]) -> dict[str, set[str]]:
    """Each core module's imports of other core modules, `from core import x` counted as core.x."""
    modules = {
        ".".join(p.relative_to(config.REPO_ROOT).with_suffix("").parts): p
        for p in python_files
        if top_folder(p) == "core"
    }
    graph = {}
    for name, path in modules.items():
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                imported.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                imported.add(node.module)
                imported.update(f"{node.module}.{alias.name}" for alias in node.names)
        graph[name] = imported & set(modules)
    return graph


def test_the_preprocessing_stages_never_call_back_up_into_core_images(python_files):
    graph = core_imports(python_files)
    assert set(PREPROCESSING_STAGES) <= set(graph)
    assert not {stage: sorted(graph[stage]) for stage in PREPROCESSING_STAGES if "core.images" in graph[stage]}


def test_core_imports_have_no_cycle(python_files):
    """Dependencies point one way inside core/ too: each module can be read knowing only those below it."""
    graph = core_imports(python_files)
    done: set[str] = set()

    def cycle_from(module: str, path: tuple[str, ...]) -> tuple[str, ...] | None:
        if module in path:
            return (*path[path.index(module) :], module)
        if module in done:
            return None
        for imported in sorted(graph[module]):
            if found := cycle_from(imported, (*path, module)):
                return found
        done.add(module)
        return None

    assert not [cycle for module in sorted(graph) if (cycle := cycle_from(module, ()))]
