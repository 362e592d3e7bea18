"""The command-line flags that several commands share (training settings, inference settings, verbosity), and the
rule that turns them and a config file into one validated Config."""

from __future__ import annotations

import argparse
import difflib
from pathlib import Path

from facepalsy.config import LOGGERS, SCHEDULES, SPLITS, Config, load_config
from facepalsy.inference.settings import ENGINES, InferenceSettings
from facepalsy.models.backbones import list_models
from facepalsy.models.baseline import ALIASES
from facepalsy.models.baseline import NAME as LANDMARK_MODEL
from facepalsy.models.spec import PRECISIONS


class Parser(argparse.ArgumentParser):
    """argparse with a suggestion for a mistyped flag (``--treshold``: did you mean ``--threshold``?)."""

    def error(self, message: str):
        if message.startswith("unrecognized arguments:"):
            known = _option_strings(self)
            for token in message.split(":", 1)[1].split():
                close = difflib.get_close_matches(token.split("=")[0], known, n=1, cutoff=0.75)
                if token.startswith("-") and close:
                    message += f" (did you mean {close[0]}?)"
        super().error(message)


def _option_strings(parser: argparse.ArgumentParser) -> list[str]:
    """Every flag of a parser and its subcommands."""
    found = []
    for action in parser._actions:  # argparse keeps them there; it has no public accessor
        found += action.option_strings
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                found += _option_strings(sub)
    return sorted(set(found))


def config_flags(parser: argparse.ArgumentParser) -> None:
    """Flags that set Config fields; their default None means "keep the YAML or built-in value"."""
    parser.add_argument("--config", metavar="YAML", help="read settings from a YAML file; flags given here win")
    parser.add_argument(
        "--model",
        "--backbone",
        dest="backbone",
        metavar="MODEL",
        help=f"a CNN backbone ({', '.join(list_models())}; default vgg16) or {LANDMARK_MODEL} (the landmark model for "
        f"real photos; '{ALIASES[0]}' is its old name)",
    )
    parser.add_argument("--weights", help="imagenet (default), none, or a path to a .pth state dict")
    parser.add_argument("--image-size", type=int, help="input size in pixels (default 224, as the paper)")
    parser.add_argument(
        "--split",
        choices=SPLITS,
        help="subject: no subject on both sides (default); frame: by image, as the paper (leaky)",
    )
    parser.add_argument(
        "--test-fraction", type=float, help="share of images (frame) or subjects (subject) for testing (default 0.19)"
    )
    parser.add_argument(
        "--val-fraction", type=float, help="share held out from training for validation curves (default 0.1)"
    )
    parser.add_argument("--epochs", type=int, help="default 30")
    parser.add_argument("--batch-size", type=int, help="default 32")
    parser.add_argument("--lr", type=float, help="Adam learning rate (default 1e-4); with onecycle, its peak")
    parser.add_argument(
        "--schedule",
        choices=SCHEDULES,
        help="constant learning rate (default, the paper's) or onecycle (warm-up, then decay)",
    )
    parser.add_argument(
        "--finetune",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="train the backbone too (default: frozen, as the paper)",
    )
    parser.add_argument(
        "--augment",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="rotation, flip, shift and scale (default on)",
    )
    parser.add_argument(
        "--face-crop",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="detect the largest face, level the eyes and crop it (recorded, so predict repeats it)",
    )
    parser.add_argument(
        "--require-face",
        dest="face_required",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="no usable face, no verdict, and no training image (default on; "
        "--no-require-face only for face images the detector cannot see, e.g. drawn ones)",
    )
    parser.add_argument(
        "--harmonise",
        type=int,
        nargs="?",
        const=96,
        metavar="PX",
        help="the same face crop, level of detail (the face PX pixels "
        "across, default 96) and JPEG re-encoding for every image, "
        "so that how photos were taken cannot carry the label (recorded, so predict repeats it)",
    )
    parser.add_argument(
        "--twins",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="landmark model: also train on palsied twins of the healthy training faces, a one-sided droop drawn into "
        "each (default on)",
    )
    parser.add_argument(
        "--feature-cache",
        type=int,
        metavar="K",
        help="frozen backbone: cache features of K augmented views once; epochs then train only the head",
    )
    parser.add_argument(
        "--operating-point",
        metavar="RULE",
        help="how the run's threshold is chosen on validation data: youden "
        "(default for the CNNs), sensitivity=0.90, specificity=0.90 (0.95 is the landmark model's default) "
        "or fixed=0.5",
    )
    parser.add_argument("--seed", type=int, help="default 42")
    parser.add_argument(
        "--logger",
        choices=list(LOGGERS),
        help="experiment log: csv (RUN/logs/metrics.csv, always written) "
        "and, if named and installed, tensorboard or mlflow as well",
    )
    parser.add_argument(
        "--subgroup",
        metavar="COLUMN[,COLUMN]",
        help="manifest column(s): the model card gives performance per value (the data source column, if any, always)",
    )
    parser.add_argument(
        "--skip-bad",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="skip unreadable images and list them in RUN/bad_images.txt",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        help="auto: bf16 mixed precision where the CPU/GPU has native bf16 (default); fp32: exact",
    )
    parser.add_argument("--accelerator", help="auto (default), cpu, gpu, …")
    parser.add_argument(
        "--devices",
        type=int,
        help="devices (default 1); train: processes of one DDP run; cv: folds run in parallel, one per device",
    )
    parser.add_argument(
        "--num-nodes", type=int, help="train: machines in one DDP run (launched by torchrun or SLURM; default 1)"
    )
    parser.add_argument("--strategy", help="Lightning strategy for train: auto (default), ddp, …")


def inference_flags(parser: argparse.ArgumentParser) -> None:
    """How a trained run labels: its threshold (overridable) and the arithmetic precision."""
    parser.add_argument(
        "--threshold",
        type=float,
        help="palsy if p(palsy) >= this (default: the run's operating threshold, chosen on validation data)",
    )
    parser.add_argument(
        "--precision",
        choices=PRECISIONS,
        default="auto",
        help="auto: bf16 where the CPU/GPU has it (default); fp32: exact",
    )
    parser.add_argument(
        "--uncalibrated",
        action="store_true",
        help="the network's own probabilities, without the temperature "
        "scaling fitted on validation data (labels stay the same)",
    )
    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="torch",
        help="torch (default); onnx / onnx-int8: RUN/model.onnx / "
        "RUN/model-int8.onnx with onnxruntime (see facepalsy export)",
    )


def inference_settings(args: argparse.Namespace) -> InferenceSettings:
    """The InferenceSettings a command's ``inference_flags`` (and ``--batch-size`` where it has one) ask for."""
    batch = {"batch_size": args.batch_size} if getattr(args, "batch_size", None) else {}
    return InferenceSettings(args.engine, args.precision, args.threshold, not args.uncalibrated, **batch)


def common_flags(parser: argparse.ArgumentParser, default) -> None:
    """Flags every command takes, before or after its name (after it, a flag not given leaves the value set before
    it)."""
    parser.add_argument(
        "--debug",
        action="store_true",
        default=default if default is argparse.SUPPRESS else False,
        help="show tracebacks for errors",
    )
    loudness = parser.add_mutually_exclusive_group()
    loudness.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=default if default is argparse.SUPPRESS else False,
        help="errors only: no progress bars or notes (results still go to stdout)",
    )
    loudness.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default if default is argparse.SUPPRESS else False,
        help="also the training library's own log lines",
    )


def resolve_config(args: argparse.Namespace, data: str | list[str] | None) -> Config:
    """The config file (if any) with the command line's data folders and flags over it."""
    base = load_config(args.config) if args.config else Config()
    flags = {name: getattr(args, name, None) for name in Config.__dataclass_fields__ if name != "data"}
    folders = [data] if isinstance(data, str) else data
    return base.replace(data=[str(Path(d).resolve()) for d in folders] if folders else None, **flags)


def json_flag(p: argparse.ArgumentParser, lines: bool = False) -> None:
    """--json, alike on every command: the result's own ``to_dict`` on stdout instead of the tables, while progress
    and warnings stay on stderr, so that a script can pipe it."""
    shape = "JSON lines, one per input," if lines else "one JSON document"
    p.add_argument("--json", action="store_true", help=f"{shape} on stdout instead of the tables (progress on stderr)")


def strict_flag(p: argparse.ArgumentParser) -> None:
    """The many-image commands' exit rule: 0 when at least one input got a result, unless ``--strict``."""
    p.add_argument(
        "--strict",
        action="store_true",
        help="exit 2 if any input could not be read or measured (default: only if none could; each is named on stderr)",
    )


def ray_flags(p: argparse.ArgumentParser, unit: str, runs: str, shared: str) -> None:
    """--ray [ADDRESS] and the cores and GPUs of each Ray ``unit`` (``--fold-cpus`` …); ``runs``: what Ray runs,
    ``shared``: what must be on storage every node sees."""
    p.add_argument(
        "--ray",
        nargs="?",
        const="",
        metavar="ADDRESS",
        help=f"{runs}: a local Ray without ADDRESS, or join a cluster (auto, or HOST:PORT of `ray start --head`); "
        f"{shared} must be on storage every node sees (ray extra)",
    )
    p.add_argument(
        f"--{unit}-cpus", type=int, default=1, help=f"--ray: cores per {unit}, its torch threads (default 1)"
    )
    p.add_argument(f"--{unit}-gpus", type=float, default=0.0, help=f"--ray: GPUs per {unit} (default 0)")
