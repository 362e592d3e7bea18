"""Text renderers for the terminal: metrics tables, healthy-range readings, the shortcut audit, bench figures.
The commands call these after the library has computed the numbers; nothing here computes."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.console import Console
from rich.table import Table

from facepalsy.log import console


def print_result(args: argparse.Namespace, metrics: dict, report: Path) -> None:
    """Results on stdout: the metrics table, or with --json one JSON document (metrics and the report's path)."""
    if args.json:
        print(json.dumps({**metrics, "report": str(report)}, default=str))
        return
    print_metrics(metrics)
    console.print(f"report: [bold]{report}[/]")


def pattern_note(prediction) -> list[str]:
    """The palsy pattern as a note beside a prediction (the JSON carries it whole)."""
    pattern = prediction.palsy_pattern
    if not pattern:
        return []
    side = f", patient's {pattern['side']}" if pattern.get("side") and pattern["pattern"] != "undetermined" else ""
    urgent = "; stroke not excluded: urgent clinical assessment" if pattern["pattern"] == "central" else ""
    return [f"pattern: {pattern['pattern']}{side}{urgent}"]


def reference_table(reference: dict) -> Table:
    table = Table(
        "region",
        "score",
        "healthy percentile",
        "outside healthy range",
        "weaker side",
        title=f"against healthy reference ranges ({reference.get('reference', {}).get('count', '?')} healthy faces)",
    )
    for region, r in reference["regions"].items():
        table.add_row(
            region.replace("_", " "),
            f"{r['score']:.2f}",
            f"{r['healthy_percentile']:.1f}",
            "[bold red]yes[/]" if r["outside_healthy_range"] else "no",
            r["weaker_side"] or "—",
        )
    return table


def reference_sentence(reference: dict) -> str:
    """The reading in one line: within range (no side named), or which regions are outside and which side is weaker."""
    if reference.get("turned"):
        return "head turned too far to compare the sides: no reading against the healthy range"
    outside = [r.replace("_", " ") for r, v in reference["regions"].items() if v["outside_healthy_range"]]
    if not outside:
        return "within the healthy range in every region (no affected side named)"
    return (
        f"outside the healthy range: {', '.join(outside)}; more "
        f"affected side: patient's {reference['more_affected_side']}"
    )


def print_audit(out: Console, audit: dict) -> None:
    """The shortcut audit as a table, and its warning where nobody can miss it."""
    classes = list(audit["measures"][0]["per_class"])
    table = Table(
        "measure", *classes, "separability AUC", title="shortcut audit: the photos' acquisition, without any face"
    )
    for m in audit["measures"]:
        auc = (
            "n/a"
            if m["auc"] is None
            else (f"[bold red]{m['auc']:.3f}[/]" if m["auc"] > audit["warn_auc"] else f"{m['auc']:.3f}")
        )
        table.add_row(m["name"], *(m["per_class"][c] for c in classes), auc)
    out.print(table)
    combined = audit.get("combined")
    if combined and combined.get("auc") is not None:
        ci = combined["ci95"]
        out.print(
            f"all measures together (cross-validated, {combined['folds']} folds): AUC {combined['auc']:.3f}"
            + (f" (95% CI {ci[0]:.3f}–{ci[1]:.3f})" if ci else "")
        )
    if audit.get("note"):
        out.print(f"[yellow]warning: {audit['note']}[/]")
    if audit.get("warning"):
        out.print(f"[bold red]WARNING:[/] {audit['warning']}", markup=True, highlight=False)


def bench_lines(result: dict) -> list[str]:
    """The figures measured once (int8 agreement, shared features, landmarks, video), one line each."""
    lines = []
    if "int8_agreement" in result:
        a = result["int8_agreement"]
        lines.append(
            f"int8 vs fp32 on {a['check_images']} validation images of "
            f"{a['run']}: labels agree on {100 * a['label_agreement']:.1f}%, "
            f"|Δp| ≤ {a['delta_p_95th_percentile']:.4f} on 95% "
            f"({'kept' if a['kept'] else 'refused by the export check'})"
        )
    if "shared_features" in result:
        f = result["shared_features"]
        lines.append(
            f"leave-one-subject-out, {f['subjects']} folds ({f['backbone']}, {f['size']} "
            f"px, {f['images']} images, {f['views']} views, {f['epochs']} epochs): "
            f"{f['lopo_seconds']:.0f} s vs {f['one_fold_alone_seconds']:.0f} "
            f"s for one fold alone = {f['lopo_over_one_run']:.2f}×; "
            f"backbone passes {f['backbone_passes_lopo']} vs "
            f"{f['backbone_passes_one_run']} = {f['backbone_passes_ratio']:.2f}×"
        )
    if "landmarks" in result and "speedup_vs_previous" in result["landmarks"]:
        m = result["landmarks"]
        lines.append(
            f"landmarks ({m['photos']} photos, {m['source']}): {m['ms_per_photo']:.0f} "
            f"ms per photo vs {m['previous_ms_per_photo']:.0f} ms "
            f"before = {m['speedup_vs_previous']:.1f}× faster"
        )
    for engine, v in result.get("video", {}).items():
        if isinstance(v, dict):
            lines.append(
                f"video ({engine}): 60 s of 1280×720 at 30 fps, "
                f"{v['frames_analysed']} frames analysed (face, landmarks, CNN) in "
                f"{v['analysis_seconds']:.1f} s = {v['real_time_factor']:.2f}× real time"
            )
    return lines


def print_metrics(metrics: dict) -> None:
    from facepalsy.evaluation.report import percent

    table = Table(
        "accuracy %", "recall %", "precision %", "F1 %", "ROC AUC %", "n", title="test metrics (positive class: palsy)"
    )
    table.add_row(
        *(percent(metrics[k]) for k in ("accuracy", "recall", "precision", "f1", "roc_auc")), str(metrics["n"])
    )
    ci = metrics.get("ci95") or {}
    table.add_row(
        *(
            f"{percent(ci[k][0])}–{percent(ci[k][1])}" if ci.get(k) else "n/a"
            for k in ("accuracy", "recall", "precision", "f1", "roc_auc")
        ),
        "95% CI",
    )
    console.print(table)
    calibration = metrics.get("calibration")
    if calibration:
        kind = calibration["kinds"][
            calibration["applied"] if calibration["applied"] in calibration["kinds"] else "as given"
        ]
        temperature = f"temperature {calibration['temperature']:.3f}, " if calibration.get("temperature") else ""
        console.print(
            f"calibration ({calibration['applied']}; {temperature}see "
            f"report): Brier {kind['brier']:.3f}, ECE {kind['ece']:.3f}, "
            f"intercept {kind['calibration_intercept']:.2f}, slope {kind['calibration_slope']:.2f}",
            highlight=False,
        )
    chance = metrics.get("chance")
    if chance and not chance["better_than_chance"]:
        console.print(f"[bold red]WARNING:[/] the model is {chance['statement']}", highlight=False)


def reference_markdown(reference: dict) -> str:
    """The healthy-range reading in one sentence, a side named only for regions outside the range."""
    if reference.get("turned"):
        return "The head is turned too far to compare the sides: **no reading against the healthy range**"
    outside = [r.replace("_", " ") for r, v in reference["regions"].items() if v["outside_healthy_range"]]
    percentiles = ", ".join(
        f"{r.replace('_', ' ')} {v['healthy_percentile']:.0f}th" for r, v in reference["regions"].items()
    )
    if not outside:
        return (
            "**Within the healthy range** in every region (healthy "
            f"percentiles: {percentiles}); no affected side is named"
        )
    return (
        f"**Outside the healthy range: {', '.join(outside)}**; more "
        f"affected side: **patient's {reference['more_affected_side']}** "
        f"(healthy percentiles: {percentiles})"
    )
