"""Paths a user hands to a command, checked before anything is computed (docs/ARCHITECTURE.md, Contracts).

One place for the rules every command keeps:

* **Names** that become a path component (a dataset, an encoder, a model, a teacher, a video id where it names
  a file) match ``NAME_PATTERN``: letters, digits, ``_``, ``-`` and ``.``, starting with a letter or a digit, at
  most 128 characters, so ``..``, ``/`` and hidden names never reach a path (:func:`check_name`).
* **Roots**: a path built from data stays under the root it was built from, after resolving links
  (:func:`under_root`); a relative video path of a manifest never climbs out of its data root
  (:func:`check_relative_path`).
* **Lengths**: every path is at most ``PATH_MAX`` bytes and each of its names at most ``NAME_MAX``; an output
  name keeps room for the temporary name the atomic writers give it (``vqaloop.io.atomic``).
* **Outputs** (:func:`check_output_file`, :func:`check_output_dir`): the folder they go to exists and is
  writable, a file output is not an existing folder (and a folder output not an existing file), and no output is
  an input or another output of the same command (:func:`check_distinct`, resolved paths). A folder output that
  already exists is replaced only when it is empty or holds its command's marker file (:func:`check_replaceable`):
  no command deletes what it did not create, and ``.``, ``/``, the home folder and the folders above the working
  folder are never replaced.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from vqaloop.errors import UserError

NAME_PATTERN = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,127}")
NAME_RULE = "letters, digits, '_', '-' or '.', starting with a letter or digit, at most 128 characters"
NAME_MAX = 255  # bytes of one name (Linux NAME_MAX)
PATH_MAX = 4095  # bytes of a whole path (Linux PATH_MAX less the NUL)
TEMP_ROOM = 32  # an atomic writer's temporary is ".<name>.<8 random>.tmp<suffix>" (vqaloop.io.atomic)


def check_name(value: object, what: str) -> str:
    """``value`` as a string if it is a safe path component (module docstring); one UserError naming ``what``."""
    text = str(value)
    if not NAME_PATTERN.fullmatch(text):
        raise UserError(f"{what} {text[:80]!r} is not a valid name ({NAME_RULE})")
    return text


def check_length(path: str | os.PathLike, what: str, room: int = 0) -> Path:
    """``path`` as a Path if it and each of its names fit the system's limits (``room``: bytes kept free in the
    last name for a temporary name); one UserError naming ``what`` otherwise."""
    path = Path(path)
    size = len(os.fsencode(path))
    if size > PATH_MAX:
        raise UserError(f"{what}: path of {size} bytes is too long (at most {PATH_MAX}): {str(path)[:60]}...")
    for part in path.parts:
        limit = NAME_MAX - room if part == path.name else NAME_MAX
        if len(os.fsencode(part)) > limit:
            raise UserError(f"{what}: the name {part[:40]}... has {len(os.fsencode(part))} bytes (at most {limit})")
    return path


def under_root(root: str | os.PathLike, *parts: object, what: str) -> Path:
    """``root / parts...`` with each part a safe name (:func:`check_name`), checked to stay under ``root`` once
    links are resolved."""
    path = Path(root).joinpath(*(check_name(p, what) for p in parts))
    check_length(path, what)
    if not path.resolve().is_relative_to(Path(root).resolve()):
        raise UserError(f"{what}: {path} leads outside {root} (a link?)")
    return path


def check_relative_path(value: object, what: str) -> str:
    """A manifest's video path: absolute (a dataset kept elsewhere), or relative and staying under its root."""
    text = str(value)
    if not os.path.isabs(text) and os.path.normpath(text).split(os.sep)[0] == "..":
        raise UserError(f"{what}: path {text[:80]!r} climbs out of the data root ('..')")
    return text


def _existing_ancestor(path: Path) -> Path:
    while not path.exists() and path != path.parent:
        path = path.parent
    return path


def check_output_file(path: str | os.PathLike, what: str) -> Path:
    """A file the command will write: a sane length, not an existing folder, in an existing writable folder."""
    path = check_length(path, what, room=TEMP_ROOM)
    if path.is_dir():
        raise UserError(f"{what}: {path} is a folder, expected a file to write")
    _check_parent(path, what)
    return path


def check_output_dir(path: str | os.PathLike, what: str, marker: str | None = None) -> Path:
    """A folder the command will write as a whole: a sane length, not an existing file, in an existing writable
    folder; with ``marker``, an existing folder must be replaceable (:func:`check_replaceable`)."""
    path = check_length(path, what, room=TEMP_ROOM)
    if path.exists() and not path.is_dir():
        raise UserError(f"{what}: {path} is a file, expected a folder to write")
    _check_parent(path, what)
    if marker is not None:
        check_replaceable(path, marker, what)
    return path


def check_output_into(path: str | os.PathLike, what: str) -> Path:
    """An existing writable folder the command writes its files into (each file is checked as an output)."""
    path = check_length(path, what, room=TEMP_ROOM)
    if not path.is_dir():
        raise UserError(f"{what}: {path} is not an existing folder")
    if not os.access(path, os.W_OK | os.X_OK):
        raise UserError(f"{what}: folder {path} is not writable")
    return path


def check_cache_dir(path: str | os.PathLike, what: str) -> Path:
    """A folder the command keeps files in (a download cache, lock files): a folder or creatable as one."""
    path = check_length(path, what, room=TEMP_ROOM)
    if path.exists() and not path.is_dir():
        raise UserError(f"{what}: {path} is a file, expected a folder")
    ancestor = _existing_ancestor(path.absolute())
    if not ancestor.is_dir():
        raise UserError(f"{what}: {ancestor} is a file, so {path} cannot be a folder")
    if not os.access(ancestor, os.W_OK | os.X_OK):
        raise UserError(f"{what}: folder {ancestor} is not writable")
    return path


def _check_parent(path: Path, what: str) -> None:
    parent = path.absolute().parent
    if not parent.exists():
        raise UserError(f"{what}: folder {parent} does not exist (create it first)")
    if not parent.is_dir():
        raise UserError(f"{what}: {parent} is not a folder")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UserError(f"{what}: folder {parent} is not writable")


def protected_folders() -> set[Path]:
    """Folders no command replaces: the file system's root, the home folder, the working folder and its parents."""
    cwd = Path.cwd().resolve()
    return {Path("/"), Path.home().resolve(), cwd, *cwd.parents}


def check_replaceable(path: str | os.PathLike, marker: str, what: str) -> None:
    """An output folder that may be replaced: absent, empty, or a previous output (it holds ``marker``); never one
    of :func:`protected_folders`."""
    path = Path(path)
    if path.resolve() in protected_folders():
        raise UserError(f"{what}: {path} is the root, home, working or a parent folder: write a new folder instead")
    if path.is_dir() and any(path.iterdir()) and not (path / marker).is_file():
        raise UserError(f"{what}: {path} is a non-empty folder that this command did not write (no {marker} in "
                        "it): give a new or empty folder")  # fmt: skip


def check_distinct(inputs: list[tuple[str, Path]], outputs: list[tuple[str, Path]]) -> None:
    """No output is an input or another output (resolved paths); ``(what, path)`` pairs name them."""
    seen: dict[Path, str] = {}
    for what, path in inputs:
        seen.setdefault(Path(path).resolve(), what)
    for what, path in outputs:
        key = Path(path).resolve()
        if key in seen:
            raise UserError(f"{what}: {path} is also {seen[key]}: an output must not overwrite another file given")
        seen[key] = f"{what} (an output)"
