"""Results cross layers typed: a public function returns a dataclass, not a dict, except the raw maps allowed below;
config is read by attribute; each result's home is where the layers say. Static checks on the source."""

from __future__ import annotations

import ast
import dataclasses
import importlib
import re
import typing

import pytest
from test_layers import PACKAGE, _imports, _modules

# Public functions allowed to return a dict: raw measure maps (measure name → value), file-format mappings read or
# written as such (name maps, state dicts, ONNX metadata, Ray resources, provenance), Lightning's callback API, and the
# metrics that are pure functions on arrays (scikit-learn's style). Everything else returns a dataclass.
ALLOWED = {
    "cluster.py:RayPlan.resources",
    "data/dataset.py:manifest_rows",
    "data/exam_names.py:read_name_map",
    "evaluation/audit.py:image_measures",
    "evaluation/cv_report.py:read_predictions",
    "evaluation/metrics.py:binary_metrics",
    "evaluation/metrics.py:bootstrap_ci",
    "evaluation/metrics.py:calibration_metrics",
    "face/asymmetry.py:shape_measures",
    "face/expression.py:expression_measures",
    "face/millimetres.py:Millimetres.side",
    "face/norms.py:differences",
    "face/norms.py:side_sizes",
    "models/side_differences.py:fit_params",
    "models/efficientnet.py:imagenet_state",
    "models/network_parts.py:read_state_dict",
    "models/registry.py:packaged_state_dict",
    "models/vgg.py:load_imagenet_state_dict",
    "records/pseudonyms.py:read_pseudonym_map",
    "records/recording.py:exam_sources",
    "records/store.py:RecordStore.export",
    "runfolder/provenance.py:environment",
    "training/cv.py:listed_per_source",
    "training/features.py:FeatureBank.contents",
    "training/loop.py:RunRecorder.state_dict",
}
AT_MOST = 25  # public functions returning dict or list[dict], besides to_dict


def _returns_dict(annotation: ast.expr | None) -> bool:
    if annotation is None:
        return False
    text = ast.unparse(annotation).replace(" ", "").strip("'\"")
    return any(re.fullmatch(pattern, part) for part in text.split("|") for pattern in (r"dict(\[.*)?", r"list\[dict.*"))


def _public_functions(body: list[ast.stmt], prefix: str = "") -> list[tuple[str, ast.FunctionDef]]:
    """Every public function and method (of public classes) in ``body``, with its qualified name."""
    found = []
    for node in body:
        if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
            found += _public_functions(node.body, f"{prefix}{node.name}.")
        elif isinstance(node, ast.FunctionDef) and not node.name.startswith("_"):
            found.append((prefix + node.name, node))
    return found


def _dict_returning_functions() -> set[str]:
    return {
        f"{path.relative_to(PACKAGE).as_posix()}:{name}"
        for path in PACKAGE.rglob("*.py")
        for name, node in _public_functions(ast.parse(path.read_text(encoding="utf-8")).body)
        if node.name != "to_dict" and _returns_dict(node.returns)
    }


def test_public_functions_return_dataclasses_except_the_raw_maps_allowed():
    found = _dict_returning_functions()
    assert found - ALLOWED == set(), "return a dataclass (or, for a raw map, add it to ALLOWED with a reason)"
    assert len(found) <= AT_MOST


@pytest.mark.parametrize(
    "function",
    [
        "facepalsy.evaluation.audit:audit",
        "facepalsy.evaluation.check:check_dataset",
        "facepalsy.evaluation.check:guard_split",
        "facepalsy.evaluation.check:overlap_with_training",
        "facepalsy.evaluation.metrics:chance_check",
        "facepalsy.evaluation.metrics:calibration_summary",
        "facepalsy.evaluation.evaluate:calibration_report",
        "facepalsy.face.norms:load_norms",
        "facepalsy.face.norms:build_norms",
        "facepalsy.face.grade:load_retest",
        "facepalsy.runfolder:RunFolder.read_epochs",
        "facepalsy.bench.run:run_bench",
        "facepalsy.bench.run:bench_backbone",
        "facepalsy.bench.video_timing:bench_video",
        "facepalsy.bench.gpu:bench_device",
        "facepalsy.inference.export:export_run_int8",
    ],
)
def test_the_results_the_redesign_named_are_dataclasses(function):
    module, _, name = function.partition(":")
    target = importlib.import_module(module)
    for part in name.split("."):
        target = getattr(target, part)
    returned = typing.get_type_hints(target)["return"]
    returned = typing.get_args(returned)[-1] if typing.get_origin(returned) is tuple else returned
    assert dataclasses.is_dataclass(returned), f"{function} returns {returned}"


def test_records_import_nothing_from_workflows_or_app():
    modules = _modules()
    climbing = {
        (name, target)
        for name, path in modules.items()
        if name.startswith("facepalsy.records")
        for target in _imports(name, path, modules)
        if target.startswith(("facepalsy.workflows", "facepalsy.app"))
    }
    assert not climbing


def test_config_is_read_by_attribute_outside_its_own_module():
    pattern = re.compile(r"\bconfig\[|\bconfig\.get\(|SimpleNamespace")
    reads = [
        f"{p.relative_to(PACKAGE)}:{i}"
        for p in PACKAGE.rglob("*.py")
        if p.name != "config.py"
        for i, line in enumerate(p.read_text(encoding="utf-8").splitlines(), 1)
        if pattern.search(line)
    ]
    assert not reads


def test_json_is_declared_once_and_the_bench_is_not_in_the_app():
    declared = [p for p in (PACKAGE / "app").rglob("*.py") if '"--json"' in p.read_text(encoding="utf-8")]
    assert [p.name for p in declared] == ["flags.py"] and (PACKAGE / "app" / "flags.py").read_text().count(
        '"--json"'
    ) == 1
    assert not list((PACKAGE / "app").glob("bench*.py")) and (PACKAGE / "bench" / "__init__.py").is_file()


def test_no_module_name_repeats_across_layers():
    names: dict[str, list[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        if path.name != "__init__.py" and "migrations" not in path.parts:
            names.setdefault(path.stem, []).append(str(path.relative_to(PACKAGE)))
    assert {stem: where for stem, where in names.items() if len(where) > 1} == {}


def test_the_scan_sees_a_dict_returning_function():
    """The scan can fail: a public function annotated ``-> dict`` is found, ``-> Audit`` is not."""
    source = "def made() -> dict[str, int]: ...\ndef typed() -> Audit: ...\ndef rows() -> list[dict]: ...\n"
    tree = ast.parse(source)
    assert [f.name for f in tree.body if _returns_dict(f.returns)] == ["made", "rows"]
