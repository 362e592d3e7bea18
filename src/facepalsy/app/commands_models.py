"""The commands that train, evaluate, compare, export and serve models: synth, train, evaluate, cv, reproduce,
compare, export, demo, models, bench, serve. Each parses nothing itself: it takes argparse's namespace, calls
the library and renders."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from rich.table import Table

from facepalsy.app.flags import inference_settings, resolve_config
from facepalsy.app.render import print_cv, print_result
from facepalsy.errors import FacepalsyError
from facepalsy.log import console, result_console


def cmd_synth(args: argparse.Namespace) -> int:
    from facepalsy.data.synth import make_synthetic_dataset

    out = Path(args.out)
    if out.exists() and any(out.iterdir()) and not args.overwrite:
        raise FacepalsyError(f"{out}: folder exists and is not empty; pass --overwrite to write into it")
    make_synthetic_dataset(out, args.subjects, args.images_per_subject, args.seed, args.size)
    console.print(
        f"wrote {args.subjects * args.images_per_subject} images of {args.subjects} subjects to [bold]{out}[/]"
    )
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from facepalsy.training.train import resume, train

    if args.resume:
        metrics = resume(args.out, epochs=args.epochs)
    elif not args.data:
        raise FacepalsyError("train needs a DATA folder (or --resume with --out RUN)")
    else:
        metrics = train(resolve_config(args, args.data), args.out, overwrite=args.overwrite)
    if not metrics:  # a DDP process other than rank 0: it trained, rank 0 reports
        return 0
    from facepalsy.runfolder import RunFolder

    run = RunFolder(args.out)
    print_result(args, metrics, run.report, protocol_title(run.read_config().split))
    return 0


def protocol_title(split: str) -> str:
    """Which figures a table shows: the held-out test part of a frame or a subject split."""
    kind = (
        "frame split, the paper's protocol: people seen in training, overstates accuracy on new patients"
        if split == "frame"
        else "subject split: people not seen in training"
    )
    return f"test metrics on the held-out test images ({kind})"


def cmd_evaluate(args: argparse.Namespace) -> int:
    from facepalsy.evaluation.evaluate import evaluate_run
    from facepalsy.runfolder import ResultFiles

    metrics, out = evaluate_run(
        args.run,
        data=args.data,
        out=args.out,
        skip_bad=args.skip_bad,
        settings=inference_settings(args),
    )
    from facepalsy.runfolder import RunFolder

    title = (
        protocol_title(RunFolder(args.run).read_config().split)
        if args.data is None
        else f"test metrics on every image of {args.data} (an external evaluation)"
    )
    print_result(args, metrics, ResultFiles(out).report, title)
    return 0


def cmd_cv(args: argparse.Namespace) -> int:
    from facepalsy.cluster import RayPlan
    from facepalsy.runfolder import CvFolder
    from facepalsy.training.cv import resume_cv, run_cv

    ray = None if args.ray is None else RayPlan(args.ray or None, args.fold_cpus, args.fold_gpus)
    if args.resume:
        result = resume_cv(args.out, ray=ray)
    elif not args.data:
        raise FacepalsyError("cv needs a DATA folder (or --resume with --out DIR)")
    else:
        config = resolve_config(args, args.data)
        result = run_cv(
            config,
            args.out,
            args.protocol,
            args.folds,
            overwrite=args.overwrite,
            ray=ray,
            fold_details=args.fold_details,
        )
    print_cv(args, result, CvFolder(args.out).report)
    return 0


def cmd_reproduce(args: argparse.Namespace) -> int:
    from facepalsy.config import PROTOCOLS
    from facepalsy.evaluation.compare import compare, write_comparison
    from facepalsy.training.cv import run_cv
    from facepalsy.training.train import train

    out = Path(args.out)
    config = resolve_config(args, args.data)
    protocols = reproduce_protocols(args.protocols, args.split, PROTOCOLS)
    runs = []
    for protocol in protocols:
        for backbone in args.backbones.split(","):
            console.rule(f"{backbone}, {protocol}")
            run = out / protocol / backbone if len(protocols) > 1 else out / backbone
            if protocol in ("frame", "subject"):
                train(config.replace(backbone=backbone, split=protocol), run, overwrite=args.overwrite)
            else:
                run_cv(config.replace(backbone=backbone), run, protocol, args.folds, overwrite=args.overwrite)
            runs.append(run)
    comparison = compare(runs, published=args.with_published)
    print(comparison.markdown())
    md, _ = write_comparison(comparison, out)
    console.print(f"table: [bold]{md}[/]")
    return 0


def reproduce_protocols(given: str | None, split: str | None, cv_protocols: tuple[str, ...]) -> list[str]:
    """The protocols reproduce runs: ``--protocols``, else the one ``--split`` names, else the paper's frame
    split; a ``--split`` that contradicts ``--protocols`` is refused, never ignored."""
    if given is None:
        return [split or "frame"]
    protocols = [p.strip() for p in given.split(",") if p.strip()]
    unknown = [p for p in protocols if p not in ("frame", "subject", *cv_protocols)]
    if unknown or not protocols:
        raise FacepalsyError(
            f"unknown protocol(s) {', '.join(unknown) or '(none given)'}; "
            "choose from frame, subject, subject-kfold, lopo"
        )
    if split is not None:
        contradicting = [p for p in protocols if (p == "frame") != (split == "frame")]
        if contradicting:
            raise FacepalsyError(
                f"--split {split} contradicts --protocols {','.join(contradicting)}; give one of them "
                f"(--protocols alone, or --split alone)"
            )
    return protocols


def cmd_compare(args: argparse.Namespace) -> int:
    from facepalsy.evaluation.compare import compare, write_comparison

    comparison = compare(args.runs)
    if args.out:
        Path(args.out).mkdir(parents=True, exist_ok=True)
        md, csv_path = write_comparison(comparison, Path(args.out))
        console.print(f"wrote {md} and {csv_path}")
    print(json.dumps(comparison.to_dict(), default=str) if args.json else comparison.markdown())
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from facepalsy.app.commands_records import cmd_export_record
    from facepalsy.inference.export import export_onnx, export_run_int8
    from facepalsy.inference.predictor import load

    if args.patient:
        if args.run:
            raise FacepalsyError("give a run folder or --patient ID, not both")
        return cmd_export_record(args)
    if not args.run:
        raise FacepalsyError("export needs a run folder (or --patient ID for a patient's record)")
    predictor = load(args.run)
    if args.format == "onnx-int8":
        path, figures = export_run_int8(predictor, args.calibration_images)
        console.print(
            f"wrote [bold]{path}[/] (int8, calibrated on {figures.calibration_images} training images); "
            f"{figures.sentence()}"
        )
        return 0
    path, difference = export_onnx(predictor, Path(args.out) if args.out else None)
    console.print(
        f"wrote [bold]{path}[/] (input: N×3×H×W float pixels 0–255; output: "
        "class probabilities, palsy second; the run's spec in its metadata); "
        f"largest difference from PyTorch fp32 on 8 probe images: {difference:.1e}"
    )
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from facepalsy.app.demo import run_demo

    run_demo(Path(args.out), overwrite=args.overwrite, seed=args.seed)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from facepalsy.models.backbones import backbone_spec, list_models
    from facepalsy.models.registry import weights_available

    table = Table("backbone", "ImageNet file", "from", "available offline")
    for name in list_models():
        weights = backbone_spec(name).imagenet
        where = f"package {weights.package}" if weights.package else "torch's hub cache"
        table.add_row(name, weights.filename, where, "yes" if weights_available(name) else "no")
    result_console().print(table)
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from facepalsy.bench.figures import BackboneFigures
    from facepalsy.bench.run import run_bench

    result = run_bench(
        tuple(args.backbones.split(",")),
        args.size,
        args.batch,
        args.repeats,
        args.precision,
        run=Path(args.run) if args.run else None,
        extras=not args.no_extras,
        photos=[Path(folder) for folder in args.photos] if args.photos else None,
        landmarks_only=args.landmarks_only,
    )
    if args.json:
        print(json.dumps(result.to_dict(), indent=2))
        return 0
    peaks = result.matmul_peak_gflops
    out = result_console()
    out.print(f"{result.cpu.name}, {result.threads} threads ({result.cpu.torch_capability})")
    if result.backbones:
        out.print(f"matrix-product peak: fp32 {peaks['fp32']:.0f} GFLOP/s, bf16 {peaks['bf16']:.0f} GFLOP/s")
        table = Table(
            "", *(r.backbone for r in result.backbones), title=f"facepalsy bench, {args.size} px, batch {args.batch}"
        )
        for row in BackboneFigures.ROWS:
            table.add_row(row.label, *(row.cell(r) for r in result.backbones))
        out.print(table)
    for line in result.lines():
        out.print(line, highlight=False)
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from facepalsy.app.serve import serve

    serve(
        args.run,
        host=args.host,
        port=args.port,
        auth_file=args.auth_file,
        db=args.db,
        keep_uploads=args.keep_uploads,
        settings=inference_settings(args),
        forget_after=args.forget_after,
    )
    return 0
