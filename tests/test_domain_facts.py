"""Domain facts are defined once (the schema, the readers' suffix registry) and used from there."""
import ast
from pathlib import Path

import pytest

from nianbao.schema import DEFAULT_TEMPLATE, TABLE_NAMES, TEMPLATES, load_schema, template_for_year

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize("year,template", [(2019, "v2019"), (2020, "v2019"), (2021, "v2021"), (2024, "v2021")])
def test_template_for_year(year, template):
    assert template_for_year(year) == template


def test_default_template_and_table_titles_come_from_the_schema():
    assert DEFAULT_TEMPLATE in TEMPLATES
    assert tuple(load_schema().table_titles()) == TABLE_NAMES
    assert load_schema().table_title("requests") == "收到和处理政府信息公开申请情况"


def test_review_modules_use_the_schema_titles():
    from nianbao.review import app, labelstudio

    assert app.TABLE_TITLES == labelstudio.TABLE_TITLES == load_schema().table_titles()


def test_ingest_and_review_use_the_readers_suffix_registry():
    from nianbao.ingest.runner import report_suffixes
    from nianbao.inference.readers import IMAGE_SUFFIXES, REPORT_SUFFIXES
    from nianbao.review import app

    assert report_suffixes() == set(REPORT_SUFFIXES)
    assert app.IMAGE_SUFFIXES is IMAGE_SUFFIXES


LIBRARY_DIRS = ("inference", "ingest", "review", "training", "labels")


def _imports_cli(path: Path) -> bool:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module == "nianbao.cli":
            return True
        if isinstance(node, ast.Import) and any(a.name == "nianbao.cli" for a in node.names):
            return True
    return False


def test_stage_modules_do_not_import_the_cli():
    offenders = [str(p.relative_to(ROOT)) for d in LIBRARY_DIRS for p in (ROOT / d).rglob("*.py") if _imports_cli(p)]
    assert offenders == []


def test_no_library_module_imports_the_cli():
    # nianbao/ itself: only the command modules that cli.py registers may know it (none needs to).
    library = [p for p in (ROOT / "nianbao").glob("*.py") if p.name != "cli.py"]
    assert [p.name for p in library if _imports_cli(p)] == []
