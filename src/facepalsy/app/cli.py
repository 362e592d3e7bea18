"""Command-line interface: ``facepalsy COMMAND ...`` (also ``python -m facepalsy``).

Every command is a thin wrapper over the library functions of the other modules.
User errors print one line (``error: ...``) and exit 2; ``--debug`` shows the traceback.
"""

from __future__ import annotations

import argparse
import os
import signal
import sys
import warnings

from facepalsy.app.commands_exam import add_exam_commands
from facepalsy.app.commands_faces import (
    cmd_asymmetry,
    cmd_check,
    cmd_explain,
    cmd_norms_build,
    cmd_predict,
    cmd_prepare,
)
from facepalsy.app.commands_models import (
    cmd_bench,
    cmd_compare,
    cmd_cv,
    cmd_demo,
    cmd_evaluate,
    cmd_export,
    cmd_models,
    cmd_reproduce,
    cmd_serve,
    cmd_synth,
    cmd_train,
)
from facepalsy.app.commands_records import add_record_commands, db_flag
from facepalsy.app.flags import Parser, common_flags, config_flags, inference_flags, json_flag, ray_flags, strict_flag
from facepalsy.config import PROTOCOLS
from facepalsy.data.dataset import CLASSES
from facepalsy.errors import EXIT_USER_ERROR, FacepalsyError, Interrupted, display_path
from facepalsy.inference.settings import ENGINES
from facepalsy.models.spec import PRECISIONS

SINGLE_PROCESS_COMMANDS = {
    "predict",
    "evaluate",
    "explain",
    "asymmetry",
    "check",
    "prepare",
    "serve",
    "export",
    "exam",
    "grade",
    "norms",
    "history",
    "forget",
}  # start no worker processes


def build_parser() -> argparse.ArgumentParser:
    from facepalsy.version import __version__

    parser = Parser(
        prog="facepalsy",
        description="Facial palsy detection: VGG transfer learning with honest evaluation.",
        epilog="Progress and notes go to stderr, results to stdout. Shell completion: see docs/guide.md.",
    )
    parser.add_argument("--version", action="version", version=f"facepalsy {__version__}")
    common_flags(parser, default=False)
    common = argparse.ArgumentParser(add_help=False)
    common_flags(common, default=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kwargs)

    p = command("synth", help="draw a synthetic data set of palsy and normal faces")
    p.add_argument("--out", required=True, help="data folder to write")
    p.add_argument("--subjects", type=int, default=40)
    p.add_argument("--images-per-subject", type=int, default=20)
    p.add_argument("--size", type=int, default=224, help="image size in pixels")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_synth)

    p = command("train", help="train a classifier and write a run folder")
    p.add_argument(
        "data",
        nargs="*",
        metavar="DATA",
        help="data folder (palsy/, normal/, optional manifest.csv); several make one data set, each folder a source "
        "(one class only is fine: e.g. a folder of healthy faces)",
    )
    p.add_argument("--out", required=True, metavar="RUN", help="run folder to write")
    config_flags(p)
    p.add_argument("--overwrite", action="store_true", help="replace an existing run folder")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the run in --out from its last completed epoch (with --epochs: train it longer)",
    )
    json_flag(p)
    p.set_defaults(func=cmd_train)

    p = command("evaluate", help="metrics of a run on its test split or on another data folder")
    p.add_argument("run", metavar="RUN")
    p.add_argument("--data", help="evaluate on every image of this data folder instead")
    p.add_argument("--out", help="where to write (default: RUN, or RUN/eval-NAME with --data)")
    p.add_argument("--skip-bad", action="store_true", help="skip unreadable images and list them in OUT/bad_images.txt")
    inference_flags(p)
    json_flag(p)
    p.set_defaults(func=cmd_evaluate)

    p = command("predict", help="label and palsy probability per image")
    p.add_argument("run", metavar="RUN")
    p.add_argument(
        "images", nargs="+", metavar="IMAGE", help="image files, folders, or videos (.mp4 .avi .mov .mkv .webm)"
    )
    json_flag(p, lines=True)
    inference_flags(p)
    strict_flag(p)
    p.add_argument("--cam", metavar="DIR", help="also write a Grad-CAM overlay per image into DIR")
    p.add_argument(
        "--out",
        default=".",
        metavar="DIR",
        help="videos: write DIR/VIDEO_NAME/timeline.png and frames.csv (default: here); or a results file "
        "(FILE.csv or FILE.parquet): one row per photo or video, written as scored, resumable (files already in it "
        "are skipped)",
    )
    ray_flags(p, "task", "with a results file, score batches on Ray actors", "the files and --out")
    p.add_argument("--fps", type=float, default=6.0, help="videos: frames per second to score (default 6)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=32,
        help="photos through the network at once; a results file is written a batch at a time (default 32)",
    )
    p.add_argument(
        "--pattern",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="name the palsy pattern (central/peripheral) of faces labelled palsy (default on; face extra; "
        "a CNN run measures each such face's landmarks once, about 45 ms)",
    )
    p.set_defaults(func=cmd_predict)

    p = command("export", help="export a run's model for deployment (ONNX), or a patient's record (--patient)")
    p.add_argument("run", metavar="RUN", nargs="?", help="the run folder (not with --patient)")
    p.add_argument(
        "--patient",
        metavar="ID",
        help="write this patient's record instead: record.json and record.csv into --out DIR (default record_<ID>)",
    )
    db_flag(p)
    p.add_argument(
        "--format",
        choices=[e for e in ENGINES if e != "torch"],
        default="onnx",
        help="onnx: fp32 graph (RUN/model.onnx); onnx-int8: static int8 "
        "quantisation calibrated on the run's training images, "
        "kept only if it agrees with fp32 on the validation images (RUN/model-int8.onnx)",
    )
    p.add_argument("--out", help="file to write (default RUN/model.onnx; onnx format only)")
    p.add_argument(
        "--calibration-images",
        type=int,
        default=200,
        metavar="N",
        help="onnx-int8: training images that set the activation ranges (default 200)",
    )
    p.set_defaults(func=cmd_export)

    p = command("explain", help="Grad-CAM heatmaps: where the network looked, per image")
    p.add_argument("run", metavar="RUN")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders")
    p.add_argument("--out", required=True, metavar="DIR")
    inference_flags(p)
    strict_flag(p)
    p.set_defaults(func=cmd_explain)

    p = command("asymmetry", help="landmark asymmetry per region and the more affected side (face extra)")
    p.add_argument("images", nargs="+", metavar="IMAGE", help="image files or folders")
    json_flag(p, lines=True)
    p.add_argument("--draw", metavar="DIR", help="write the landmarks and measured lines over each face into DIR")
    strict_flag(p)
    p.add_argument(
        "--norms",
        metavar="FILE",
        help="healthy reference ranges from `facepalsy norms build` (default: the shipped reference)",
    )
    p.add_argument(
        "--run",
        metavar="RUN",
        help="also give this trained run's verdict: the pattern is then named for a face it reads as palsy, as "
        "`predict` names it",
    )
    inference_flags(p)
    p.set_defaults(func=cmd_asymmetry)

    add_exam_commands(command)
    add_record_commands(command)

    p = command("norms", help="healthy reference ranges for the landmark asymmetry (face extra)")
    norms_sub = p.add_subparsers(dest="norms_command", required=True, metavar="ACTION")
    b = norms_sub.add_parser("build", parents=[common], help="measure healthy faces in FOLDER into a reference JSON")
    b.add_argument("folder", metavar="FOLDER", help="photos of healthy people (searched recursively)")
    b.add_argument("--out", required=True, metavar="FILE.json")
    b.add_argument("--source", help="where the photos come from, recorded in the file (default: the folder's path)")
    b.add_argument(
        "--retest-photos",
        type=int,
        default=80,
        metavar="N",
        help="resting photos measured again on re-taken views for the minimal detectable change that `history` "
        "judges change by (default 80; 0 skips it)",
    )
    b.set_defaults(func=cmd_norms_build)

    p = command("compare", help="the paper's Table 1 for any runs")
    p.add_argument("runs", nargs="+", metavar="RUN")
    p.add_argument("--out", help="also write comparison.md and comparison.csv here")
    json_flag(p)
    p.set_defaults(func=cmd_compare)

    p = command(
        "prepare",
        help="cut videos (or folders of frames) into the data contract "
        "at a fixed frame rate, or harmonise a data folder",
    )
    source = p.add_mutually_exclusive_group(required=True)
    source.add_argument(
        "--videos", metavar="DIR", help="folder of .mp4/.avi/.mov/.mkv/.webm files or of per-video frame folders"
    )
    source.add_argument(
        "--images", metavar="DATA", help="a data folder to harmonise (with --harmonise) into --out, audited after"
    )
    p.add_argument(
        "--out", required=True, metavar="DATA", help="data folder to write into (appends to its manifest.csv)"
    )
    p.add_argument("--label", choices=CLASSES[::-1], help="the class of the videos")
    p.add_argument(
        "--harmonise",
        type=int,
        nargs="?",
        const=96,
        metavar="PX",
        help="with --images: every image becomes its aligned face, PX pixels "
        "across (default 96), resized to --size and JPEG-encoded alike",
    )
    p.add_argument(
        "--size",
        type=int,
        default=224,
        help="with --harmonise: output size in pixels (default 224; use the size you will train at)",
    )
    p.add_argument("--fps", type=float, default=6.0, help="frames per second to keep (default 6, as YFP)")
    p.add_argument(
        "--subjects",
        metavar="MAP.csv",
        help="video,subject rows (several videos may share a subject); default: the video's name",
    )
    p.add_argument(
        "--face-crop", type=int, metavar="SIZE", help="write the aligned face crop (SIZE px) instead of the whole frame"
    )
    p.set_defaults(func=cmd_prepare)

    p = command("check", help="counts, unreadable files, duplicates and near-duplicates, subjects with both labels")
    p.add_argument("data", metavar="DATA")
    json_flag(p)
    p.set_defaults(func=cmd_check)

    p = command("cv", help="cross-validation: frame, subject-kfold, leave-one-subject-out or leave-source-out")
    p.add_argument("data", nargs="*", metavar="DATA", help="data folder(s), as for train")
    p.add_argument("--out", required=True, metavar="DIR")
    p.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="subject-kfold",
        help="frame: by image (the paper's, leaks subjects); subject-kfold: by subject; lopo: leave one subject out; "
        "leave-source-out: hold out each source whole (false-positive rate, sensitivity, AUC per source)",
    )
    p.add_argument(
        "--folds", type=int, default=5, help="folds of frame, subject-kfold (others: one per subject/source)"
    )
    config_flags(p)
    p.add_argument("--overwrite", action="store_true")
    p.add_argument(
        "--resume",
        action="store_true",
        help="continue the cross-validation in --out: keep completed folds, run the rest",
    )
    ray_flags(p, "fold", "run each fold as a Ray task", "--out")
    p.add_argument(
        "--fold-details",
        action="store_true",
        help="each fold also draws its figures, Grad-CAM examples, bootstrap intervals and report, as train does "
        "(slower; the pooled ones are always made)",
    )
    json_flag(p)
    p.set_defaults(func=cmd_cv)

    p = command("reproduce", help="train VGG16 and VGG19 under one or more protocols and write the comparison table")
    p.add_argument("data", metavar="DATA")
    p.add_argument("--out", required=True)
    p.add_argument("--backbones", default="vgg16,vgg19")
    p.add_argument(
        "--protocols",
        help="comma-separated: frame, subject (single splits), subject-kfold, lopo (cross-validation); "
        "default: the one --split names, else frame (the paper's table)",
    )
    p.add_argument("--folds", type=int, default=5, help="folds for subject-kfold")
    p.add_argument(
        "--with-published", action=argparse.BooleanOptionalAction, default=True, help="add the paper's published rows"
    )
    config_flags(p)
    p.add_argument("--overwrite", action="store_true")
    p.set_defaults(func=cmd_reproduce)

    p = command("serve", help="local web page: upload a photo or video, see verdict, heatmap and asymmetry")
    p.add_argument("run", metavar="RUN")
    p.add_argument(
        "--host", default="127.0.0.1", help="default 127.0.0.1 (this machine only); 0.0.0.0 opens it to the network"
    )
    p.add_argument("--port", type=int, default=7860)
    p.add_argument(
        "--auth-file",
        metavar="FILE",
        help="require a login: user:password lines (or set FACEPALSY_AUTH); needed for any --host but this machine",
    )
    db_flag(p)
    p.add_argument("--keep-uploads", metavar="DIR", help="keep a copy of each upload here (default: none is kept)")
    p.add_argument(
        "--forget-after",
        type=float,
        default=30.0,
        metavar="SECONDS",
        help="delete each upload and every file derived from it this "
        "long after the last response that used it (default 30)",
    )
    inference_flags(p)
    p.set_defaults(func=cmd_serve)

    p = command("bench", help="speed and memory on this machine, against its own matrix-product peak")
    p.add_argument(
        "--backbones",
        default="vgg16,vgg19,efficientnet_lite0",
        help="comma-separated backbones to time (default vgg16,vgg19,efficientnet_lite0)",
    )
    p.add_argument("--size", type=int, default=224, help="input size in pixels (default 224)")
    p.add_argument("--batch", type=int, default=16, help="images per timed batch (default 16)")
    p.add_argument("--repeats", type=int, default=3, help="timed repetitions per figure (median)")
    p.add_argument(
        "--precision", choices=PRECISIONS, default="auto", help="auto (bf16 where native), bf16 or fp32 (default auto)"
    )
    p.add_argument(
        "--run",
        metavar="RUN",
        help="a trained run: also measure its int8 file's agreement with fp32 on its validation images",
    )
    p.add_argument(
        "--photos",
        metavar="DIR",
        nargs="+",
        help="folders of real face photos for the landmark figures, 80 photos spread over them (default: drawn faces)",
    )
    p.add_argument(
        "--landmarks-only",
        action="store_true",
        help="only the landmark path's figures: per photo, per video frame, start-up, a folder (about a minute)",
    )
    p.add_argument(
        "--no-extras",
        action="store_true",
        help="skip the cross-validation, landmark and video figures (several minutes)",
    )
    json_flag(p)
    p.set_defaults(func=cmd_bench)

    p = command("demo", help="synthetic data → train → evaluate → report, offline, no arguments")
    p.add_argument("--out", default="facepalsy-demo", help="the demo's folder: data/ and run/ (default facepalsy-demo)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing demo folder")
    p.add_argument("--seed", type=int, default=0, help="the training's seed (default 0; the data are always the same)")
    p.set_defaults(func=cmd_demo)

    p = command("models", help="list backbones and whether their ImageNet weights are cached")
    p.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    try:  # shell completion when argcomplete is installed (docs/guide.md); without it, nothing changes
        import argcomplete

        argcomplete.autocomplete(parser)
    except ImportError:
        pass
    args = parser.parse_args(argv)
    from facepalsy.face.detect import NATIVE_LOGS_ENV, route_native_logs_away
    from facepalsy.log import set_verbosity

    set_verbosity(-1 if args.quiet else 1 if args.verbose else 0)

    if args.debug:
        os.environ.setdefault(NATIVE_LOGS_ENV, "1")  # MediaPipe's and TFLite's own log lines
    one_process = getattr(args, "devices", None) in (None, 1) and getattr(args, "num_nodes", None) in (None, 1)
    if args.command in SINGLE_PROCESS_COMMANDS or (one_process and not getattr(args, "config", None)):
        route_native_logs_away()  # training on one device starts no process that would inherit the silenced descriptor
    if not args.debug:
        warnings.filterwarnings("ignore", category=DeprecationWarning)
        warnings.filterwarnings("ignore", category=FutureWarning)
    signal.signal(signal.SIGTERM, _raise_interrupt)  # SIGTERM stops like Ctrl+C: atomic writes finish or never land
    try:
        return args.func(args)
    except Interrupted as exc:
        print(f"interrupted: {exc}", file=sys.stderr)
        return exc.exit_code
    except FacepalsyError as exc:
        if args.debug:
            raise
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except OSError as exc:  # the disk or the file system, not facepalsy: say which file and what
        if args.debug:
            raise
        print(
            f"error: {display_path(exc.filename) + ': ' if exc.filename else ''}{exc.strerror or exc}", file=sys.stderr
        )
        return EXIT_USER_ERROR
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt
