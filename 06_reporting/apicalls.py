"""Call every endpoint of a running scoring API and write the answers to apireturns.txt.

    python 06_reporting/apicalls.py                       # the API serve.sh started
    PORT=9000 python 06_reporting/apicalls.py             # ... on PORT, as serve.sh reads it
    python 06_reporting/apicalls.py --url http://host:8000 [overrides]

A non-2xx answer or an unreachable server ends with a non-zero exit and one line saying which.
"""

from __future__ import annotations

import argparse
import logging
import os
from pathlib import Path

from utils.api.client import RETURNS_NAME, api_url, call_all, prediction_request, write_answers

log = logging.getLogger("apicalls")


def _parse_args() -> argparse.Namespace:
    root = Path(__file__).resolve().parents[1]
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=root, help="project whose config.yaml is used")
    parser.add_argument(
        "--url", default=None, help="API base URL (default: api.host, and PORT or api.port)"
    )
    parser.add_argument("--output", type=Path, default=None, help="answers file (default: models/)")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides of config.yaml")
    return parser.parse_args()


if __name__ == "__main__":
    from utils.runtime.cli import run_entry_point

    args = _parse_args()

    def main() -> None:
        from utils.config import load_project_config

        config = load_project_config(args.root, args.overrides)
        paths = config.resolved_paths(args.root)
        url = args.url or api_url(config.api, os.environ)
        output = args.output or paths["model_dir"] / RETURNS_NAME
        request = prediction_request(
            Path(args.root) / config.api.data_dir, paths["test_data"], config.api.max_rows
        )
        write_answers(call_all(url, request, os.environ.get(config.api.token_env)), output)
        log.info("all endpoints answered 2xx; wrote %s", output)

    run_entry_point("apicalls", main)
