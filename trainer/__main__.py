"""Command line of the trainer: ``python -m trainer <command> ...``.

Each command is a module with ``add_arguments(parser)`` and ``run(args) -> int``; it is imported
only when its command runs, so one command's heavy imports never slow another. To add a command,
add a line to ``COMMANDS``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "evaluate": ("trainer.evaluate", "compare predictions with annotations; write a report"),
    "validate": ("trainer.data", "validate an annotation JSONL file against the rubric"),
    "export-swift": (
        "trainer.export_swift",
        "write annotations as an ms-swift conversation data set",
    ),
    "import-coco": ("trainer.coco", "build annotations from COCO boxes and a CSV of labels"),
    "tiny": ("trainer.tiny_qwen", "build a randomly initialised tiny Qwen2-VL checkpoint"),
    "fit": ("trainer.fit", "fine-tune Qwen2-VL (LoRA or full) from a YAML config"),
    "phantoms": ("trainer.phantoms", "write a synthetic phantom data set (images + JSONL)"),
    "pool": ("trainer.pool", "draw a pool of phantoms stored at a model's input size"),
    "upload-path": (
        "trainer.upload_path",
        "fresh phantoms on scanner-sized screens, through intake",
    ),
    "ablate": ("trainer.ablate", "compare stage-1 recipes at an equal CPU budget"),
    "ood": ("trainer.ood", "fit or measure a checkpoint's abstention (OOD) statistics"),
    "baselines": ("trainer.baselines", "train the CNN baselines (plane classifier, detector)"),
    "calibrate": ("trainer.calibrate", "fit a checkpoint's confidence calibration and review rule"),
    "live-head": ("trainer.live_head", "fit the live view's head on a checkpoint's frozen tower"),
    "promote": ("trainer.promote", "commit a candidate model when it measures better"),
    "state-size": ("trainer.state_size", "the training state's size for a recipe (LoRA vs full)"),
}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="python -m trainer")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    for name, (_, help_text) in COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    # Parse the command name first, then import only that command's module.
    head, _ = parser.parse_known_args(argv[:1])
    module = importlib.import_module(COMMANDS[head.command][0])
    full = argparse.ArgumentParser(prog=f"python -m trainer {head.command}")
    module.add_arguments(full)
    return int(module.run(full.parse_args(argv[1:])) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
