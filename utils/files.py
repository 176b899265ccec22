"""Atomic file writes and content hashes.

Every output of the pipeline goes through here so that a reader (or a process killed half-way)
only ever sees the complete old file or the complete new one.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from utils.errors import PipelineError

_CHUNK = 1 << 20
# mkstemp creates files readable by the owner only; outputs get the usual umask-based mode.
_UMASK = os.umask(0)
os.umask(_UMASK)
_FILE_MODE = 0o666 & ~_UMASK


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_identity(path: Path) -> dict[str, object]:
    """Which file, as it is now (absolute path, size, modification time): tells whether a
    result computed from it still holds without hashing gigabytes again."""
    status = Path(path).stat()
    return {
        "path": str(Path(path).resolve()),
        "bytes": status.st_size,
        "mtime_ns": status.st_mtime_ns,
    }


def fsync_dir(directory: Path) -> None:
    """Make a rename inside ``directory`` durable, not just visible."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def atomic_path(target: Path) -> Iterator[Path]:
    """Yield a temporary path beside ``target``; on success it replaces ``target`` in one step.

    The temporary file lives in the same directory so that ``os.replace`` is a rename on one
    file system. On any error it is removed and ``target`` is left as it was.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        os.chmod(tmp, _FILE_MODE)
        yield tmp
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, target)
        fsync_dir(target.parent)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(target: Path, write: Callable[[Path], object]) -> None:
    """Call ``write(tmp_path)`` and move the result onto ``target`` atomically."""
    with atomic_path(target) as tmp:
        write(tmp)


def atomic_write_text(target: Path, text: str) -> None:
    atomic_write(target, lambda tmp: tmp.write_text(text, encoding="utf-8"))


def atomic_write_bytes(target: Path, data: bytes) -> None:
    atomic_write(target, lambda tmp: tmp.write_bytes(data))


def atomic_copy(source: Path, target: Path) -> None:
    atomic_write(target, lambda tmp: shutil.copyfile(source, tmp))


# Compressed data is not read: said once in the log, so that a .csv.gz is not silently missed.
_COMPRESSED = (".gz", ".bz2", ".xz", ".zip", ".zst")
# The data files the pipeline reads: CSV text, and Parquet, which keeps each column's type.
DATA_SUFFIXES = (".csv", ".parquet")


def spark_only(spec: str) -> bool:
    """Whether an input location is one only Spark's Hadoop layer reads: a URI (s3a://,
    hdfs://, file://...) or a glob. Anything else is a folder on this machine."""
    return "://" in spec or any(c in spec for c in "*?[")


def is_parquet(name: str | Path) -> bool:
    """Whether ``name`` (a path or a URI) is a Parquet file, by its suffix, as people name them."""
    return str(name).lower().endswith(".parquet")


class UnfollowableLink(Exception):
    """A path whose links cannot be followed; says why (without the path)."""


def follow_links(path: Path) -> Path:
    """``path`` with its links followed; UnfollowableLink when they cannot be. A link loop is
    a RuntimeError on Python 3.11 and 3.12, and nothing at all on 3.13, whose resolve() stops
    at the looping link: so a resolved path that still holds a link is a loop."""
    try:
        real = Path(path).resolve()
    except RuntimeError:
        raise UnfollowableLink("a symbolic link loop") from None
    except OSError as err:
        raise UnfollowableLink(err.strerror or "cannot follow its links") from None
    if any(part.is_symlink() for part in (real, *real.parents)):
        raise UnfollowableLink("a symbolic link loop")
    return real


def resolved(path: Path) -> Path:
    """``path`` with its links followed; PipelineError naming it when they cannot be (a link
    loop, a path too long)."""
    try:
        return follow_links(path)
    except UnfollowableLink as err:
        reason = str(err)
        if reason != "a symbolic link loop":
            reason = f"cannot follow its links ({reason})"
        raise PipelineError(f"{path}: {reason}") from None


def data_files_in(folder: Path) -> list[Path]:
    """The data files (``*.csv`` and ``*.parquet``) of ``folder`` that the pipeline reads,
    sorted by name.

    Read: regular files with those suffixes (any case), not hidden. A symbolic link is
    followed only to a file inside the same folder. Anything else named like a data file (a
    folder, a link leaving the folder or pointing nowhere, a device) is an error naming it,
    not a silent skip; compressed CSV files (``*.csv.gz`` ...) are not read, and a warning
    says so. Standard library only: the automation's quick check uses this too.
    """
    import logging

    folder = Path(folder)
    inside = resolved(folder)
    try:
        entries = sorted(folder.iterdir(), key=lambda p: p.name)
    except OSError as err:
        raise PipelineError(f"{folder}: cannot list the folder ({err.strerror})") from None
    files = []
    for entry in entries:
        name = entry.name.lower()
        if entry.name.startswith("."):
            continue
        if name.endswith(_COMPRESSED) and ".csv" in name:
            logging.getLogger(__name__).warning(
                "%s: compressed files are not read; decompress it into the folder", entry
            )
            continue
        if not name.endswith(DATA_SUFFIXES):
            continue
        if entry.is_symlink() and not resolved(entry).is_relative_to(inside):
            raise PipelineError(f"{entry}: a symbolic link out of {folder} is not read")
        if not entry.is_file():
            kind = "a folder" if entry.is_dir() else "not a regular file"
            raise PipelineError(f"{entry}: named like a data file but {kind}")
        files.append(entry)
    return files
