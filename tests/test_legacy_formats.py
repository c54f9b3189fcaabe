"""Legacy .doc / .wps / .et files: read through a headless LibreOffice conversion when ``soffice`` is
installed, refused with ``unsupported_format`` and the hint to install it when it is not.

The conversion plumbing (command, profile, output name, time limit, failure) is tested with a stand-in
``soffice`` script; the real conversion runs only where LibreOffice is installed."""
from __future__ import annotations

import shutil
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from nianbao.document import Table
from nianbao.errors import ReadError
from nianbao.inference.pipeline import Pipeline
from nianbao.inference.readers import REPORT_SUFFIXES, read_document, sniff_format
from nianbao.inference.readers import legacy

OLE2 = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 504


def ole2_file(path: Path) -> Path:
    path.write_bytes(OLE2)
    return path


@pytest.fixture
def no_soffice(monkeypatch, tmp_path):
    monkeypatch.delenv("NIANBAO_SOFFICE", raising=False)
    monkeypatch.setenv("PATH", str(tmp_path / "empty-path"))


def make_docx(path: Path) -> Path:
    import docx

    d = docx.Document()
    d.add_paragraph("某某县2023年政府信息公开工作年度报告")
    table = d.add_table(rows=2, cols=2)
    for r, row in enumerate([["信息内容", "本年新制作数量"], ["规章", "3"]]):
        for c, text in enumerate(row):
            table.cell(r, c).text = text
    d.save(str(path))
    return path


def fake_soffice(tmp_path: Path, behaviour: str, converted: Path | None = None) -> Path:
    """A stand-in soffice: records its arguments, then copies ``converted`` to --outdir/<input stem>.<ext>,
    sleeps, or fails."""
    script = tmp_path / "soffice"
    script.write_text(f"""#!{sys.executable}
import shutil, sys, time
from pathlib import Path
args = sys.argv[1:]
Path({str(tmp_path / "args.txt")!r}).write_text("\\n".join(args), encoding="utf-8")
if {behaviour!r} == "sleep":
    time.sleep(30)
if {behaviour!r} == "fail":
    sys.stderr.write("Error: source file could not be loaded\\n")
    sys.exit(1)
outdir = Path(args[args.index("--outdir") + 1])
target = args[args.index("--convert-to") + 1].split(":")[0]
if {behaviour!r} == "convert":
    shutil.copyfile({str(converted)!r}, outdir / (Path(args[-1]).stem + "." + target))
""", encoding="utf-8")
    script.chmod(script.stat().st_mode | stat.S_IXUSR)
    return script


@pytest.mark.parametrize("suffix", [".doc", ".wps", ".et"])
def test_without_libreoffice_the_file_is_unsupported_with_the_hint(suffix, tmp_path, no_soffice):
    path = ole2_file(tmp_path / f"报告{suffix}")
    assert sniff_format(path, path.read_bytes()) == "legacy"
    with pytest.raises(ReadError) as err:
        read_document(path)
    assert err.value.code == "unsupported_format"
    assert "LibreOffice" in err.value.message and "soffice" in err.value.message and suffix in err.value.message


def test_pipeline_without_libreoffice_reports_the_hint(tmp_path, no_soffice):
    doc = Pipeline().run(ole2_file(tmp_path / "r.doc"))
    assert doc.error is not None and doc.error.code == "unsupported_format" and "LibreOffice" in doc.error.message


def test_legacy_names_are_in_the_one_registry():
    from nianbao import cli

    assert {".doc", ".wps", ".et", ".ofd"} <= REPORT_SUFFIXES
    assert cli.REPORT_SUFFIXES is REPORT_SUFFIXES


def test_sniffing_legacy_files(tmp_path):
    assert sniff_format(tmp_path / "noname", OLE2) == "legacy"
    with pytest.raises(ReadError) as err:
        sniff_format(tmp_path / "x.txt", OLE2)  # an OLE2 file under a text name is not guessed at
    assert err.value.code == "unsupported_format"
    # What government sites serve under a .doc name: RTF (converted like a .doc), a Word 2007 package,
    # an HTML page saved from Word, plain text. Each goes to the reader of what it is.
    assert sniff_format(tmp_path / "x.doc", b"{\\rtf1\\ansi\\ansicpg936 ...") == "legacy"
    assert sniff_format(tmp_path / "x.doc", b"PK\x03\x04" + b"\x00" * 60) == "docx"
    assert sniff_format(tmp_path / "x.doc", b"<html xmlns:o='urn:schemas-microsoft-com:office:office'><body>") == "html"
    assert sniff_format(tmp_path / "x.doc", "报告正文".encode("gb18030")) == "text"


def test_conversion_reads_the_converted_docx(tmp_path, monkeypatch):
    converted = make_docx(tmp_path / "converted.docx")
    monkeypatch.setenv("NIANBAO_SOFFICE", str(fake_soffice(tmp_path, "convert", converted)))
    path = ole2_file(tmp_path / "年报 2023.wps")
    doc = read_document(path)
    assert doc.format == "legacy" and doc.source == str(path)
    assert any(w.startswith("converted_by_libreoffice") for w in doc.warnings)
    tables = [b for p in doc.pages for b in p.blocks if isinstance(b, Table)]
    assert [[c.text for c in row] for row in tables[0].rows()] == [["信息内容", "本年新制作数量"], ["规章", "3"]]
    args = (tmp_path / "args.txt").read_text(encoding="utf-8").split("\n")
    assert args[:2] == ["--headless", "--norestore"] and "docx:MS Word 2007 XML" in args
    assert any(a.startswith("-env:UserInstallation=file://") for a in args)  # its own profile
    assert Path(args[-1]).name == "input.wps"  # a plain name in the temporary folder


def test_spreadsheet_is_converted_to_html(tmp_path, monkeypatch):
    html = tmp_path / "converted.html"
    html.write_text("<html><body><table><tr><td>信息内容</td><td>本年</td></tr><tr><td>规章</td><td>3</td></tr>"
                    "</table></body></html>", encoding="utf-8")
    monkeypatch.setenv("NIANBAO_SOFFICE", str(fake_soffice(tmp_path, "convert", html)))
    doc = read_document(ole2_file(tmp_path / "表.et"))
    tables = [b for p in doc.pages for b in p.blocks if isinstance(b, Table)]
    assert [[c.text for c in row] for row in tables[0].rows()] == [["信息内容", "本年"], ["规章", "3"]]
    assert "html:HTML (StarCalc)" in (tmp_path / "args.txt").read_text(encoding="utf-8")


def test_failed_conversion_says_why(tmp_path, monkeypatch):
    monkeypatch.setenv("NIANBAO_SOFFICE", str(fake_soffice(tmp_path, "fail")))
    with pytest.raises(ReadError) as err:
        read_document(ole2_file(tmp_path / "r.doc"))
    assert err.value.code == "conversion_failed" and "could not be loaded" in err.value.message


def test_conversion_that_produces_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("NIANBAO_SOFFICE", str(fake_soffice(tmp_path, "nothing")))
    with pytest.raises(ReadError) as err:
        read_document(ole2_file(tmp_path / "r.doc"))
    assert err.value.code == "conversion_failed"


def test_conversion_past_its_time_limit_is_killed(tmp_path):
    soffice = fake_soffice(tmp_path, "sleep")
    work = tmp_path / "work"
    work.mkdir()
    with pytest.raises(ReadError) as err:
        legacy.convert(ole2_file(tmp_path / "r.doc"), str(soffice), work, timeout=1.0)
    assert err.value.code == "conversion_timeout"


SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.slow
@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")
def test_real_doc_made_by_libreoffice_reads_back(tmp_path, monkeypatch):
    monkeypatch.delenv("NIANBAO_SOFFICE", raising=False)
    source = make_docx(tmp_path / "source.docx")
    subprocess.run([SOFFICE, "--headless", f"-env:UserInstallation={(tmp_path / 'p').as_uri()}", "--convert-to", "doc",
                    "--outdir", str(tmp_path), str(source)], check=True, timeout=180, capture_output=True)
    doc = read_document(tmp_path / "source.doc")
    tables = [b for p in doc.pages for b in p.blocks if isinstance(b, Table)]
    assert [[c.text for c in row] for row in tables[0].rows()] == [["信息内容", "本年新制作数量"], ["规章", "3"]]
