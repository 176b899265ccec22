"""The scoring API: predictions from the deployed model, and its scores and diagnostics.

    python 06_reporting/app.py [--port 8000]      # development server on 127.0.0.1
    ./serve.sh                                    # gunicorn, workers from config.yaml

The model comes from production_deployment/: its sha256 is checked against the manifest before
it is unpickled, and a new deployment is picked up without a restart (one readlink per request).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
from pathlib import Path

from utils.api.app import OVERRIDES_ENV, create_app  # noqa: F401 - the app's factory, here too
from utils.api.settings import ApiSettings

log = logging.getLogger("api")


def serve_with_gunicorn(root: Path, overrides: list[str], port: int | None) -> None:
    """Check the configuration, then become gunicorn serving it (./serve.sh)."""
    from utils.config import load_project_config
    from utils.runtime.processes import api_from_project, gunicorn_command

    config = load_project_config(root, overrides)
    port = port or int(os.environ.get("PORT") or config.api.port)
    workers = int(os.environ.get("API_WORKERS") or config.api.workers)
    command = gunicorn_command(
        api_from_project(root),
        f"{config.api.host}:{port}",
        workers,
        access_log=True,
    )
    log.info("serving on http://%s:%s with %s workers", config.api.host, port, workers)
    os.environ[OVERRIDES_ENV] = json.dumps(overrides)
    os.execv(command[0], command)


if __name__ == "__main__":
    from utils.runtime.cli import run_entry_point

    parser = argparse.ArgumentParser(description="Development server of the scoring API.")
    parser.add_argument(
        "--root",
        default=str(Path(__file__).resolve().parents[1]),
        help="project folder whose config.yaml is used",
    )
    parser.add_argument("--port", type=int, default=None, help="port (default: PORT or config)")
    parser.add_argument("--debug", action="store_true", help="Flask debug mode (development only)")
    parser.add_argument(
        "--gunicorn", action="store_true", help="serve with gunicorn (what ./serve.sh runs)"
    )
    parser.add_argument("overrides", nargs="*", help="Hydra overrides, e.g. api.max_rows=100")
    args = parser.parse_args()

    def serve() -> None:
        from utils.config import load_project_config

        if args.gunicorn:
            serve_with_gunicorn(Path(args.root).resolve(), args.overrides, args.port)
        config = load_project_config(Path(args.root), args.overrides)
        port = args.port or int(os.environ.get("PORT") or config.api.port)
        settings = ApiSettings.from_config(config, Path(args.root).resolve(), dict(os.environ))
        create_app(settings).run(host=config.api.host, port=port, debug=args.debug)

    run_entry_point("api", serve)
