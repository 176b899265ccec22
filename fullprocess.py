"""Automation for cron: new data -> score drift and data drift -> retrain -> redeploy.

    python fullprocess.py                 # one check (cron every 10 minutes)
    python fullprocess.py --dry-run       # say what would happen, change nothing
    python fullprocess.py --force         # retrain now, new data or not; deploy even if worse
    python fullprocess.py --every 600     # loop, for hosts without cron
    python fullprocess.py --rollback      # back to the previous release (--to VERSION: that one)
    python fullprocess.py --promote       # the challenger serves (deployment.strategy: shadow)
    python fullprocess.py --reject        # the challenger is removed everywhere
    python fullprocess.py automation.score_drift_method=parametric   # any config override

Exit codes: 0 nothing new, no drift, kept the deployed model, or redeployed, and also "already
running"; 2 bad input or configuration; 1 any other failure. The steps run through main.py's
MLflow entry points, exactly as ./run_pipeline.sh runs them.
"""

from __future__ import annotations

import argparse
import logging
import time
from pathlib import Path

from utils.automation.run import BY_HAND, run_once
from utils.errors import PipelineError
from utils.runtime.cli import run_entry_point

ROOT = Path(__file__).resolve().parent
log = logging.getLogger("fullprocess")


def _parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--dry-run", action="store_true", help="say what would happen, change nothing"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help=(
            "retrain now, new data or not, and deploy even if it scores worse (not an "
            "identical model; an interrupted run is finished first)"
        ),
    )
    parser.add_argument("--every", type=float, default=None, help="repeat every SECONDS (no cron)")
    by_hand = parser.add_mutually_exclusive_group()
    for command, (help_text, _) in BY_HAND.items():
        by_hand.add_argument(
            f"--{command}", dest="by_hand", action="store_const", const=command, help=help_text
        )
    parser.add_argument(
        "--to", metavar="VERSION", default=None, help="with --rollback: this model version"
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of config.yaml")
    args = parser.parse_args()
    if args.to is not None and args.by_hand != "rollback":
        parser.error("--to goes with --rollback")
    if args.by_hand and (args.every is not None or args.force):
        parser.error(f"--{args.by_hand} runs once, alone: not with --every or --force")
    return args


if __name__ == "__main__":
    args = _parse_args()

    def work() -> None:
        while True:
            try:
                log.info(
                    "%s",
                    run_once(ROOT, args.overrides, args.dry_run, args.force, args.by_hand, args.to),
                )
            except PipelineError as err:
                if args.every is None:
                    raise
                # A loop standing in for cron keeps going, as cron would.
                log.error("%s; trying again in %.0f s", err, args.every)
            if args.every is None:
                return
            time.sleep(args.every)

    run_entry_point("fullprocess", work)
