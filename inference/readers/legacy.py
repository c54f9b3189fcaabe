"""Legacy binary office files (.doc, .wps, .et, .xls) read through a LibreOffice conversion.

Many governments still publish Word 97–2003 ``.doc`` and WPS Office ``.wps`` / ``.et`` files. No
Python library reads them faithfully (tables, merged cells), so when LibreOffice is installed
(``soffice`` on PATH, or the ``NIANBAO_SOFFICE`` variable naming it) the file is converted headless
in a temporary folder — documents to .docx for the DOCX reader, spreadsheets to HTML for the HTML
reader (Calc's HTML keeps merged cells as row/col spans) — and read from there. The conversion runs
with its own throwaway LibreOffice profile (parallel conversions do not share a lock) and a time
limit; the process group is killed when it passes it.

Without LibreOffice the file gets ``unsupported_format`` with the hint to install it; a conversion
that fails or produces nothing is ``conversion_failed``, one that runs too long ``conversion_timeout``.
"""
from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

from nianbao.document import Document
from nianbao.errors import ReadError

from .options import ReaderOptions

CONVERT_TIMEOUT_S = 120.0
INSTALL_HINT = ("install LibreOffice (Debian/Ubuntu: apt-get install libreoffice-writer libreoffice-calc) "
                "so that `soffice` is on PATH, or convert the file to .docx or PDF")
# Spreadsheets are converted to HTML; every other legacy file (.doc, .dot, .wps, .wpt, .rtf) to .docx.
_SPREADSHEET_SUFFIXES = frozenset({".et", ".ett", ".xls"})


@dataclass(frozen=True)
class Conversion:
    """One LibreOffice conversion: the target filter argument and the converted file's suffix."""

    target: str
    suffix: str


def conversion_for(suffix: str) -> Conversion:
    """Documents become .docx, spreadsheets HTML; an unnamed OLE2 file is tried as a document."""
    if suffix in _SPREADSHEET_SUFFIXES:
        return Conversion(target="html:HTML (StarCalc)", suffix=".html")
    return Conversion(target="docx:MS Word 2007 XML", suffix=".docx")


def find_soffice() -> Optional[str]:
    """The LibreOffice binary: $NIANBAO_SOFFICE when set, else soffice or libreoffice on PATH."""
    named = os.environ.get("NIANBAO_SOFFICE")
    if named:
        return shutil.which(named) or (named if Path(named).is_file() and os.access(named, os.X_OK) else None)
    return shutil.which("soffice") or shutil.which("libreoffice")


def soffice_command(soffice: str, source: Path, outdir: Path, profile: Path, conversion: Conversion) -> list[str]:
    return [
        soffice, "--headless", "--norestore", "--nologo", "--nolockcheck", "--nodefault",
        f"-env:UserInstallation={profile.resolve().as_uri()}",
        "--convert-to", conversion.target, "--outdir", str(outdir), str(source),
    ]


def _run(command: list[str], timeout: float, name: str) -> subprocess.CompletedProcess:
    """Run soffice in its own process group; on timeout the whole group (its helper processes) is killed."""
    proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            start_new_session=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.communicate()
        raise ReadError("conversion_timeout",
                        f"{name}: LibreOffice did not convert it within {timeout:.0f} s") from None
    return subprocess.CompletedProcess(command, proc.returncode, out, err)


def convert(path: Path, soffice: str, workdir: Path, timeout: float = CONVERT_TIMEOUT_S) -> Path:
    """Convert ``path`` in ``workdir``; returns the converted file (or raises ReadError)."""
    suffix = path.suffix.lower()
    conversion = conversion_for(suffix)
    # A plain ASCII name: LibreOffice derives the output name from it, and some builds choke on others.
    source = workdir / f"input{suffix or '.doc'}"
    shutil.copyfile(path, source)
    outdir = workdir / "out"
    outdir.mkdir()
    done = _run(soffice_command(soffice, source, outdir, workdir / "profile", conversion), timeout, path.name)
    produced = outdir / f"input{conversion.suffix}"
    if done.returncode != 0 or not produced.is_file() or produced.stat().st_size == 0:
        detail = (done.stderr or done.stdout or b"").decode("utf-8", "replace").strip().splitlines()
        why = detail[-1] if detail else f"exit status {done.returncode}, no output file"
        raise ReadError("conversion_failed", f"{path.name}: LibreOffice could not convert it ({why})")
    return produced


def read_legacy(path: Path, options: ReaderOptions) -> Document:
    path = Path(path)
    soffice = find_soffice()
    if soffice is None:
        raise ReadError("unsupported_format", f"{path.name} is a legacy {path.suffix or 'Office'} file; "
                                              f"reading it needs LibreOffice: {INSTALL_HINT}")
    with tempfile.TemporaryDirectory(prefix="nianbao-soffice-") as tmp:
        converted = convert(path, soffice, Path(tmp))
        if converted.suffix == ".docx":
            from .docx import read_docx

            doc = read_docx(converted, options)
        else:
            from .html import read_html

            doc = read_html(converted, options)
    doc.source = str(path)
    doc.warnings.append(f"converted_by_libreoffice: {path.suffix or 'the file'} read as the {converted.suffix} "
                        "LibreOffice converted it to")
    return doc
