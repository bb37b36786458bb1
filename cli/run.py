"""``cofi run``: the cofi-pipeline flow once, with the options of ``python -m flows.pipeline``."""

from __future__ import annotations

import argparse


def cmd_run(args: argparse.Namespace) -> int:
    # Prefect and the flow load only here: the other verbs need neither.
    from flows.pipeline import main as run_pipeline

    argv = list(args.pipeline_args)
    if args.data_dir and "--data-dir" not in argv:
        argv = ["--data-dir", str(args.data_dir), *argv]
    return run_pipeline(argv, error_prefix="cofi: error: ")
