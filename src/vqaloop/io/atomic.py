"""Atomic outputs: write to a temporary name beside the target, rename on success (docs/ARCHITECTURE.md, Contracts).

Outputs get the permissions a plain ``open()`` / ``mkdir()`` would give them under the current umask (files
0666 & ~umask, folders 0777 & ~umask), not the private 0600 / 0700 of ``mkstemp`` / ``mkdtemp``.

Temporary names are ``.<target name>.<random>.tmp<suffix>`` (files) and ``.<target name>.<random>.tmpdir``
(folders). A process killed before the rename leaves them behind; ``remove_stale_temporaries(target)`` removes
those of one target, and every writer here calls it first, so the next run of the same job cleans up.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

from vqaloop.errors import UserError


def current_umask() -> int:
    """The process umask (read from /proc where possible: setting it to read it is not thread-safe)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def file_mode() -> int:
    """The mode ``open(path, "w")`` gives a new file under the current umask."""
    return 0o666 & ~current_umask()


def dir_mode() -> int:
    """The mode ``mkdir`` gives a new folder under the current umask."""
    return 0o777 & ~current_umask()


def _temporaries(target: Path) -> list[Path]:
    """Leftover temporaries of ``target`` (same naming as the writers below), in its folder."""
    if not target.parent.is_dir():
        return []
    # mkstemp/mkdtemp insert 8 characters of [a-z0-9_]: ".a.csv.bak" temporaries never match target "a.csv"
    pattern = re.compile(rf"\.{re.escape(target.name)}\.[a-z0-9_]{{8}}\.tmp")
    return [p for p in target.parent.iterdir() if pattern.match(p.name)]


def remove_stale_temporaries(target: str | os.PathLike) -> list[Path]:
    """Delete temporaries a killed earlier run left for ``target``; returns what was removed.

    Only one job writes a given target at a time (Snakemake guarantees it for its outputs), so anything
    matching ``.<name>.*.tmp*`` beside it is stale by the time the job that owns it starts again.
    """
    removed = []
    for path in _temporaries(Path(target)):
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike, suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path in the target's folder; rename it onto ``target`` only if the block succeeds.

    The temporary name keeps the target's suffix so tools that look at extensions (ffmpeg, numpy) still work.
    Temporaries of ``target`` left by a killed earlier run are removed first.
    """
    target = Path(target)
    if target.is_dir():  # outputs are checked before a command runs (vqaloop.cli_checks); this one was not
        raise UserError(f"{target}: is a folder, expected a file to write")
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    suffix = target.suffix if suffix is None else suffix
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".tmp{suffix}", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        os.chmod(tmp_path, file_mode())
        os.replace(tmp_path, target)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_dir(target: str | os.PathLike, marker: str) -> Iterator[Path]:
    """Yield a temporary folder beside ``target``; it replaces ``target`` only if the block succeeds.

    ``marker``: a file the block writes in the folder, by which a later run recognises its own output. An existing
    ``target`` is replaced only when it is empty or holds that file (``vqaloop.io.paths.check_replaceable``): no
    command deletes a folder it did not write. Temporaries of ``target`` left by a killed earlier run are removed
    first.
    """
    from vqaloop.io.paths import check_replaceable

    target = Path(target)
    check_replaceable(target, marker, str(target))
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(target)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmpdir", dir=target.parent))
    try:
        yield tmp
        if not (tmp / marker).is_file():
            raise RuntimeError(f"{target}: the folder's writer did not write its marker {marker}")
        os.chmod(tmp, dir_mode())
        check_replaceable(target, marker, str(target))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def write_all_atomic(writes: list[tuple[str | os.PathLike, Callable[[Path], object]]]) -> None:
    """Several outputs of one command as one: ``(target, write)`` pairs, each ``write(tmp)`` filling its temporary;
    the targets are renamed only once every write succeeded (a failure leaves none of them changed)."""
    with contextlib.ExitStack() as stack:
        temporaries = [stack.enter_context(atomic_path(target)) for target, _ in writes]
        for tmp, (_, write) in zip(temporaries, writes, strict=True):
            write(tmp)


def csv_writer(df, **kwargs) -> Callable[[Path], None]:
    """A ``write`` of :func:`write_all_atomic` that writes ``df`` as :func:`write_csv_atomic` does."""
    kwargs.setdefault("index", False)
    kwargs.setdefault("lineterminator", "\n")
    return lambda tmp: df.to_csv(tmp, **kwargs)


def text_writer(text: str) -> Callable[[Path], None]:
    """A ``write`` of :func:`write_all_atomic` that writes ``text`` as :func:`write_text_atomic` does."""
    return lambda tmp: tmp.write_text(text)


def figure_writer(fig, dpi: int) -> Callable[[Path], None]:
    """A ``write`` of :func:`write_all_atomic` that saves a matplotlib figure (format from the target's suffix, no
    software stamp, so the same figure gives the same bytes) and closes it."""

    def write(tmp: Path) -> None:
        import matplotlib.pyplot as plt

        fig.savefig(tmp, dpi=dpi, metadata={"Software": None})
        plt.close(fig)

    return write


def write_bytes_atomic(target: str | os.PathLike, data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)


def write_text_atomic(target: str | os.PathLike, text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text)


def write_csv_atomic(df, target: str | os.PathLike, **kwargs) -> None:
    """Write a pandas DataFrame as CSV atomically (no index, LF line ends, fixed float format)."""
    kwargs.setdefault("index", False)
    kwargs.setdefault("lineterminator", "\n")
    with atomic_path(target) as tmp:
        df.to_csv(tmp, **kwargs)
