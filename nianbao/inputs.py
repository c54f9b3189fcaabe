"""Input files of a bulk run: which ones are opened, how odd names are printed, what is left out.

In a crawled archive a folder may hold anything: FIFOs, sockets, device nodes, symlink loops,
unreadable files, names that are not UTF-8. Only regular files are opened (and without blocking:
opening a FIFO for reading would wait for a writer forever); everything else is skipped with a
reason, and the run goes on.

Names that are not UTF-8 are printed and stored **losslessly escaped**: every byte that is not part
of valid UTF-8 becomes the four characters ``\\xNN`` and a backslash in the name is doubled (``\\\\``),
so ``b'bad\\xff.txt'`` is written ``bad\\xff.txt`` and :func:`path_from_display` gives the exact name
back. Names that are valid UTF-8 without a backslash (nearly all) are unchanged.
"""
from __future__ import annotations

import errno
import fnmatch
import os
import re
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Iterable, Optional

# Human meaning of each skip code (also the error code of an explicitly named input that is skipped).
SKIP_REASONS = {
    "symlink_loop": "a symbolic link loop (the link never reaches a file)",
    "broken_symlink": "a symbolic link to nothing",
    "fifo": "a named pipe (FIFO), not a file: opening it would wait for a writer",
    "socket": "a socket, not a file",
    "device": "a device node, not a file",
    "not_regular_file": "not a regular file",
    "unreadable": "cannot be read (permission denied or an I/O error)",
}


@dataclass(frozen=True)
class SkippedInput:
    path: str  # display form (see display_path)
    code: str  # a key of SKIP_REASONS

    @property
    def reason(self) -> str:
        return SKIP_REASONS.get(self.code, self.code)


class NotRegularFileError(OSError):
    """Raised by :func:`open_regular` for anything but a regular file; ``code`` is a skip code."""

    def __init__(self, path: str, code: str):
        super().__init__(errno.EINVAL, SKIP_REASONS.get(code, code), display_path(path))
        self.code = code


def display_path(path: str | os.PathLike | bytes) -> str:
    """The printable, storable form of a path: lossless, valid UTF-8 (see the module docstring)."""
    raw = os.fsencode(path) if not isinstance(path, str) else _encode(path)
    if os.sep == "\\":  # Windows names are Unicode already; backslashes are separators there
        return raw.decode("utf-8", "backslashreplace")
    return raw.replace(b"\\", b"\\\\").decode("utf-8", "backslashreplace")


def _encode(path: str) -> bytes:
    try:
        return os.fsencode(path)
    except UnicodeEncodeError:  # a surrogate that the file system decoder never makes
        return path.encode("utf-8", "surrogatepass")


_ESCAPE = re.compile(r"\\(\\|x[0-9a-fA-F]{2})")


def path_from_display(text: str) -> str:
    """The exact path (``os.fsdecode`` form) of a :func:`display_path` string."""
    if os.sep == "\\":
        return text
    out = bytearray()
    pos = 0
    for m in _ESCAPE.finditer(text):
        out += text[pos:m.start()].encode("utf-8")
        token = m.group(1)
        out += b"\\" if token == "\\" else bytes([int(token[1:], 16)])
        pos = m.end()
    out += text[pos:].encode("utf-8")
    return os.fsdecode(bytes(out))


def read_error_code(error: OSError) -> str:
    """The failure code of a file that could not be read: a skip code, ``not_found`` or ``unreadable``."""
    if isinstance(error, NotRegularFileError):
        return error.code
    return "not_found" if isinstance(error, FileNotFoundError) else "unreadable"


def skip_code(path: str | os.PathLike) -> Optional[str]:
    """None for a regular, readable file (symlinks followed); else why it is skipped (a SKIP_REASONS key).

    A path that does not exist at all is not skipped here: callers report it as not found."""
    try:
        st = os.stat(path)
    except OSError as e:
        if e.errno == errno.ELOOP:
            return "symlink_loop"
        if e.errno == errno.ENOENT and os.path.lexists(path):
            return "broken_symlink"
        if e.errno == errno.ENOENT:
            return None
        return "unreadable"
    return _mode_code(st.st_mode) or (None if os.access(path, os.R_OK) else "unreadable")


def _mode_code(mode: int) -> Optional[str]:
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISFIFO(mode):
        return "fifo"
    if stat.S_ISSOCK(mode):
        return "socket"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "device"
    return "not_regular_file"


def open_regular(path: str | os.PathLike) -> BinaryIO:
    """Open a regular file for reading without ever blocking (a FIFO swapped in after a check included).

    Raises :class:`NotRegularFileError` for anything that is not a regular file, OSError otherwise."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_NOCTTY", 0)
    try:
        fd = os.open(path, flags)
    except OSError as e:
        if e.errno == errno.ELOOP:
            raise NotRegularFileError(os.fspath(path), "symlink_loop") from e
        raise
    try:
        code = _mode_code(os.fstat(fd).st_mode)
        if code:
            raise NotRegularFileError(os.fspath(path), code)
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)  # no effect on regular files; keeps reads ordinary
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def is_excluded(path: str | os.PathLike, patterns: Iterable[str], root: str | os.PathLike | None = None) -> bool:
    """Does ``--exclude GLOB`` leave this path out? A pattern matches the name, the path relative to
    the folder given on the command line, or the whole path (``*`` also matches ``/``)."""
    patterns = list(patterns)
    if not patterns:
        return False
    p = os.fspath(path)
    candidates = [os.path.basename(p), p]
    if root is not None:
        try:
            candidates.append(os.path.relpath(p, os.fspath(root)))
        except ValueError:
            pass
    return any(fnmatch.fnmatchcase(c, pat) for pat in patterns for c in candidates)


def walk_reports(folder: str | os.PathLike, suffixes: Optional[set[str]], exclude: Iterable[str] = ()
                 ) -> tuple[list[Path], list[SkippedInput], int]:
    """Report files under ``folder`` (sorted walk, hidden entries left out; ``suffixes`` None: every file).

    Returns (files to open, skipped with a reason, number excluded by ``exclude``)."""
    exclude = list(exclude)
    files: list[Path] = []
    skipped: list[SkippedInput] = []
    excluded = 0
    for root, dirs, names in os.walk(folder):
        kept = []
        for d in sorted(dirs):
            if d.startswith("."):
                continue
            if is_excluded(os.path.join(root, d), exclude, folder):
                excluded += 1
                continue
            kept.append(d)
        dirs[:] = kept
        for name in sorted(names):
            if name.startswith((".", "~$")):
                continue
            p = Path(root) / name
            if suffixes is not None and p.suffix.lower() not in suffixes:
                continue
            if is_excluded(p, exclude, folder):
                excluded += 1
                continue
            code = skip_code(p)
            if code:
                skipped.append(SkippedInput(display_path(p), code))
            else:
                files.append(p)
    return files, skipped, excluded
