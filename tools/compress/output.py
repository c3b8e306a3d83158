"""Atomic output folders: a variant is written to a hidden temporary folder and renamed.

An interrupted run (Ctrl-C, kill, full disk) leaves at most a ``.NAME.tmp-*`` folder, which the
next run removes, never a half-written ``NAME/``: ``os.replace`` of a folder is atomic on one
file system, and an older ``NAME/`` is moved aside first and removed after.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

from tools.compress.errors import CompressError


def clean_stale(out_dir: Path) -> list[Path]:
    """Remove what interrupted runs left in ``out_dir``; returns the removed folders."""
    stale = [p for p in out_dir.glob(".*.tmp-*") if p.is_dir()]
    stale += [p for p in out_dir.glob(".*.old-*") if p.is_dir()]
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    return stale


@contextlib.contextmanager
def atomic_folder(out_dir: Path, name: str) -> Iterator[Path]:
    """Yield an empty temporary folder; on success it becomes ``out_dir/name``."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{name}.tmp-", dir=out_dir))
        umask = os.umask(0)
        os.umask(umask)
        tmp.chmod(0o777 & ~umask)  # mkdtemp's 0700 would make a shipped variant private
    except OSError as exc:
        raise CompressError(f"{out_dir}: cannot create the output folder: {exc.strerror}") from None
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    final = out_dir / name
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{name}.old-", dir=out_dir))
        os.replace(final, old / name)
    os.replace(tmp, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def write_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file and a rename."""
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_bytes(data)
    os.replace(tmp, path)
    return path
