"""Atomic publication: a release folder per deployment, and a symlink swapped in one rename.

Used for production_deployment/ and for the ingested data, whose finaldata.csv and
ingestedfiles.txt must change together.

``production_deployment`` is a symbolic link to ``production_deployment.releases/<release>``.
A new release is copied and fsynced under a temporary name, gets its manifest last, is renamed
into place, and only then does the link move (``os.replace`` of a symlink is atomic). A reader
that resolves the link once sees the complete old set or the complete new set, and a process
killed at any moment leaves the previous release serving.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import uuid
from datetime import UTC, datetime
from pathlib import Path

from utils import layout
from utils.errors import PipelineError
from utils.files import fsync_dir, sha256_file
from utils.model.training import MODEL_FILE, load_model

log = logging.getLogger(__name__)

MANIFEST_NAME = layout.MANIFEST
# The registry alias of the deployed version: it moves with the deployment link.
CHAMPION = "champion"
# The alias of a retrained version that answers every request in the shadow of the champion
# (deployment.strategy: shadow); it moves with the challenger link (layout.challenger_link).
CHALLENGER = "challenger"
# Tags of a deployed model version: its model file's sha256, its release manifest (JSON).
MODEL_SHA256_TAG = "model_file_sha256"
MANIFEST_TAG = "release_manifest"
_INCOMING_PREFIX = ".incoming-"


def deployment_role(strategy: str, champion_deployed: bool) -> str:
    """What a newly deployed model becomes: the champion, unless the strategy is shadow and a
    champion already serves (a first model has nobody to be compared with)."""
    return CHALLENGER if strategy == "shadow" and champion_deployed else CHAMPION


def releases_dir(deployment_dir: Path) -> Path:
    deployment_dir = Path(deployment_dir)
    return deployment_dir.with_name(f"{deployment_dir.name}.releases")


def current_release(deployment_dir: Path) -> Path | None:
    """The release folder the deployment currently points at, resolved once (None if none)."""
    deployment_dir = Path(deployment_dir)
    if not deployment_dir.exists():
        return None
    return deployment_dir.resolve()


def _fsync_file(path: Path) -> None:
    with open(path, "rb") as handle:
        os.fsync(handle.fileno())


def _copy_fsynced(source: Path, target: Path) -> None:
    shutil.copyfile(source, target)
    _fsync_file(target)


def _adopt_plain_folder(deployment_dir: Path, releases: Path) -> None:
    """A real folder (an older layout) moves into the releases so a link can take its place."""
    if deployment_dir.is_dir() and not deployment_dir.is_symlink():
        target = releases / f"legacy-{datetime.now(UTC):%Y%m%dT%H%M%S}"
        log.info("moving the plain folder %s to %s", deployment_dir, target)
        os.replace(deployment_dir, target)
        os.symlink(os.path.relpath(target, deployment_dir.parent), deployment_dir)


def deploy(
    sources: dict[str, Path],
    deployment_dir: Path,
    info: dict[str, object],
    keep: int = 5,
    move: bool = False,
    link: Path | None = None,
) -> Path:
    """Publish ``sources`` (name -> file) as a new release; return the release folder.

    With ``move`` the sources are renamed into the release instead of copied (they must be on
    the same file system, e.g. written beside ``deployment_dir``). The release goes into
    ``deployment_dir``'s releases; ``link`` (default ``deployment_dir``) is the link moved to it:
    the challenger's link publishes there too.
    """
    for name, source in sources.items():
        if not Path(source).is_file():
            raise PipelineError(f"{source}: {name} not found; nothing was deployed")
    deployment_dir = Path(deployment_dir)
    releases = releases_dir(deployment_dir)
    releases.mkdir(parents=True, exist_ok=True)
    _adopt_plain_folder(deployment_dir, releases)

    stamp = datetime.now(UTC)
    release_name = f"{stamp:%Y%m%dT%H%M%S%f}-{uuid.uuid4().hex[:8]}"
    incoming = releases / f"{_INCOMING_PREFIX}{release_name}"
    incoming.mkdir()
    try:
        for name, source in sources.items():
            if move:
                # A rename is durable only once the renamed content is.
                _fsync_file(Path(source))
                os.replace(source, incoming / name)
            else:
                _copy_fsynced(Path(source), incoming / name)
        manifest = {
            "release": release_name,
            "deployed_at": stamp.isoformat(timespec="seconds"),
            **info,
            "files": {name: sha256_file(incoming / name) for name in sources},
        }
        (incoming / MANIFEST_NAME).write_text(json.dumps(manifest, indent=2) + "\n")
        fsync_dir(incoming)
        release = releases / release_name
        os.replace(incoming, release)
        fsync_dir(releases)
    except BaseException:
        shutil.rmtree(incoming, ignore_errors=True)
        raise

    link = deployment_dir if link is None else Path(link)
    point_to(link, release)
    log.info("published %s release %s", link.name, release_name)
    prune_releases(deployment_dir, keep)
    return release


def point_to(deployment_dir: Path, release: Path) -> None:
    """Move the deployment link to ``release`` in one atomic rename."""
    deployment_dir = Path(deployment_dir)
    link_tmp = deployment_dir.with_name(f".{deployment_dir.name}.{uuid.uuid4().hex[:8]}.link")
    os.symlink(os.path.relpath(release, deployment_dir.parent), link_tmp)
    os.replace(link_tmp, deployment_dir)
    fsync_dir(deployment_dir.parent)


def finished_releases(deployment_dir: Path) -> list[Path]:
    """Every complete release, oldest first (names start with their UTC time)."""
    releases = releases_dir(deployment_dir)
    if not releases.is_dir():
        return []
    return sorted(
        (p for p in releases.iterdir() if p.is_dir() and not p.name.startswith(".")),
        key=lambda p: p.name,
    )


def rollback_target(releases: list[tuple[str, str]], current: str, to_version: str | None) -> str:
    """The release to roll back to, from (name, model version) of the kept releases, oldest
    first: the newest older release of another version, or the newest release of
    ``to_version``. Refuses (PipelineError) when there is none."""
    versions = dict(releases)
    deployed = versions.get(current)
    kept = ", ".join(dict.fromkeys(f"v{v}" for _, v in releases)) or "none"
    if to_version is None:
        older = [name for name, version in releases if name < current and version != deployed]
        if not older:
            raise PipelineError(
                f"nothing to roll back to: no release older than the deployed v{deployed} is"
                f" kept (kept: {kept})"
            )
        return older[-1]
    if str(to_version) == deployed:
        raise PipelineError(f"v{to_version} is the deployed version already: nothing to do")
    matching = [name for name, version in releases if version == str(to_version)]
    if not matching:
        raise PipelineError(f"no kept release of v{to_version} (kept: {kept})")
    return matching[-1]


def prune_releases(deployment_dir: Path, keep: int) -> list[Path]:
    """Remove unfinished releases and all but the newest ``keep`` finished ones.

    The current release and the challenger's are never removed, whatever their age.
    """
    releases = releases_dir(deployment_dir)
    serving = {
        current_release(deployment_dir),
        current_release(layout.challenger_link(deployment_dir)),
    }
    removed = []
    finished = finished_releases(deployment_dir)
    stale = [p for p in releases.iterdir() if p.name.startswith(_INCOMING_PREFIX)]
    for path in stale + finished[: max(len(finished) - max(keep, 1), 0)]:
        if path.resolve() in serving:
            continue
        shutil.rmtree(path, ignore_errors=True)
        removed.append(path)
    return removed


def read_manifest(release: Path) -> dict[str, object]:
    path = Path(release) / MANIFEST_NAME
    if not path.is_file():
        raise PipelineError(f"{path}: deployment manifest not found; run model_deployment first")
    return json.loads(path.read_text(encoding="utf-8"))


def identical_release(deployment_dir: Path, sources: dict[str, Path]) -> dict | None:
    """The manifest of the deployed release when it already holds exactly ``sources`` (same
    names, same sha256 each), else None: deploying them again would change nothing."""
    release = current_release(deployment_dir)
    if release is None:
        return None
    try:
        manifest = read_manifest(release)
    except (PipelineError, ValueError):
        return None
    hashes = manifest.get("files") or {}
    if set(hashes) != set(sources):
        return None
    if all(sha256_file(Path(path)) == hashes[name] for name, path in sources.items()):
        return manifest
    return None


def verify_release(release: Path, names: list[str] | None = None) -> dict[str, object]:
    """Check files of ``release`` against its manifest; return the manifest."""
    manifest = read_manifest(release)
    hashes: dict[str, str] = manifest["files"]  # type: ignore[assignment]
    for name in names if names is not None else list(hashes):
        path = Path(release) / name
        if name not in hashes:
            raise PipelineError(f"{path}: not listed in the deployment manifest")
        if not path.is_file():
            raise PipelineError(f"{path}: deployed file is missing")
        if sha256_file(path) != hashes[name]:
            raise PipelineError(f"{path}: sha256 does not match the deployment manifest")
    return manifest


def load_release_model(release: Path):
    """The model of one release and its manifest: the skops file's hash is checked, then it is
    loaded with the trusted types only (the pickle beside it is never loaded). A release made
    before releases held the skops file is refused: redeploy."""
    if not (Path(release) / MODEL_FILE).is_file():
        raise PipelineError(
            f"{Path(release) / MODEL_FILE}: the release has no skops model file (made before "
            f"releases held one; only its pickle, which is not loaded): redeploy"
        )
    manifest = verify_release(release, [MODEL_FILE])
    return load_model(Path(release) / MODEL_FILE), manifest


def deployed_release(deployment_dir: Path) -> Path:
    """The deployed release folder; PipelineError when nothing is deployed yet."""
    release = current_release(deployment_dir)
    if release is None:
        raise PipelineError(f"{deployment_dir}: no deployed model; run model_deployment first")
    return release


def load_deployed_model(deployment_dir: Path):
    """The deployed model and its manifest (see load_release_model)."""
    return load_release_model(deployed_release(deployment_dir))


def registered_model_file(model_dir: Path) -> str:
    """The model file of a logged MLflow sklearn model (``pickled_model`` in its MLmodel)."""
    import yaml

    path = Path(model_dir) / "MLmodel"
    try:
        flavors = yaml.safe_load(path.read_text(encoding="utf-8"))["flavors"]
        return str(flavors["sklearn"]["pickled_model"])
    except (OSError, KeyError, TypeError, yaml.YAMLError) as err:
        raise PipelineError(f"{path}: not an MLflow sklearn model ({err})") from None


def deployed_model_uri(deployment_dir: Path) -> str:
    """The MLflow URI of the deployed release's model (its manifest says which)."""
    uri = read_manifest(deployed_release(deployment_dir)).get("mlflow_model_uri")
    if not uri:
        raise PipelineError(f"{deployment_dir}: the deployed model has no MLflow URI")
    return str(uri)
