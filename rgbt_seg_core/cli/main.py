"""Entry point of ``rgbt-seg``; sub-commands register here and live in their own modules."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Sequence

from rgbt_seg_core.cli import bags, bench, demo, evaluate, export, model_info, predict, register, synth, train

COMMANDS = (demo, synth, train, evaluate, predict, export, bags, register, model_info, bench)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="rgbt-seg",
        description="RGB-thermal semantic segmentation: models, training, evaluation, export and benchmarks.",
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in COMMANDS:
        module.add_parser(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO, format="%(levelname)s %(message)s")
    try:
        return int(args.run(args) or 0)
    except (ValueError, OSError, RuntimeError, ArithmeticError) as exc:
        # user errors (bad file, option, checkpoint) get one clear line, not a traceback
        if args.verbose:
            raise
        print(f"rgbt-seg {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"rgbt-seg {args.command}: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
