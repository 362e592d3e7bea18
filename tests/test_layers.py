"""The import contract: facepalsy's packages form layers, each importing only the layers below it, and no module
imports itself back through others. Every import counts, those inside functions and under TYPE_CHECKING too, so a
cycle cannot hide behind a late import. The order is drawn in docs/architecture.md."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "facepalsy"
# Lowest first. A module may import its own unit and the units before it, never one after it.
LAYERS = (
    "errors",
    "version",
    "log",
    "files",  # the base: exceptions, the version, logging, atomic writes and hashes
    "html_report",  # a self-contained HTML report: Markdown and embedded pictures (the page's, a patient's history)
    "cluster",  # Ray: starting or joining it, tasks as they finish (cv folds, archives)
    "face",  # landmarks, pose, measures and the healthy reading, on RGB arrays: no files, no data sets
    "data",  # decoding, the data contract, harmonising and the face policy that makes a model's input
    "plots",  # figures that draw what they are given
    "models",  # networks, the landmark model, the model spec, the operating point and temperature
    "config",  # the typed run configuration every layer above reads by attribute (config.yaml)
    "runfolder",  # the run folder: every file name, model.pt's format, locks and provenance
    "inference",  # the Predictor, Grad-CAM, ONNX export and engine
    "evaluation",  # metrics, the shortcut audit and data checks, evaluating a run, reports and model cards
    "training",  # the training loop, cross-validation, features
    "workflows",  # the exam, norms build, harmonising a folder, scoring an archive
    "bench",  # facepalsy bench: speed and memory figures, typed
    "records",  # the patient record store: database, migrations, history and change, privacy
    "app",  # the CLI and the page
    "__init__",
    "__main__",  # the front door: facepalsy.load
)


def _modules() -> dict[str, Path]:
    modules = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        modules[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return modules


def _imports(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The facepalsy modules this module imports anywhere in its body, resolved to the module files."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*parts, base] if base else parts)
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in modules else base for alias in node.names]
        else:
            continue
        for target in targets:
            while target and target not in modules:
                target = target.rpartition(".")[0]
            if target and target != name:
                found.add(target)
    return found


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _unit(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def test_every_package_and_module_has_its_layer():
    assert {_unit(m) for m in _modules()} == set(LAYERS)


def test_imports_go_down_the_layers_only():
    rank = {unit: index for index, unit in enumerate(LAYERS)}
    upward = sorted(
        f"{a} imports {b}" for a, targets in _graph().items() for b in targets if rank[_unit(b)] > rank[_unit(a)]
    )
    assert not upward, "imports against the layer order:\n" + "\n".join(upward)


def test_no_import_cycle_between_modules():
    graph, state, cycles = _graph(), {}, []

    def visit(module: str, stack: list[str]) -> None:
        state[module] = "open"
        for target in sorted(graph[module]):
            if state.get(target) == "open":
                cycles.append(" → ".join([*stack[stack.index(target) :], target]))
            elif target not in state:
                visit(target, [*stack, target])
        state[module] = "done"

    for module in sorted(graph):
        if module not in state:
            visit(module, [module])
    assert not cycles, "import cycles:\n" + "\n".join(cycles)


def test_the_contract_sees_imports_inside_functions(tmp_path):
    """The parser itself: a late import inside a function is an edge like any other."""
    module = tmp_path / "facepalsy" / "late.py"
    module.parent.mkdir()
    module.write_text("def f():\n    from facepalsy.app import cli\n    from . import other\n", encoding="utf-8")
    modules = {
        "facepalsy.late": module,
        "facepalsy.app": tmp_path,
        "facepalsy.app.cli": tmp_path,
        "facepalsy.other": tmp_path,
    }
    assert _imports("facepalsy.late", module, modules) == {"facepalsy.app.cli", "facepalsy.other"}
