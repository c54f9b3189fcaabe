"""The schema digest that marks stored results stale counts what decides extraction, not display text."""
from __future__ import annotations

import json
from importlib import resources

import pytest

from nianbao.ingest.worker import pipeline_version, schema_content_digest, schema_digest


def _schema() -> dict:
    return json.loads(resources.files("nianbao.labels").joinpath("schema.json").read_bytes())


def _digest(schema: dict, indent: int | None = None) -> str:
    return schema_content_digest(json.dumps(schema, ensure_ascii=False, indent=indent).encode("utf-8"))


def test_editing_the_official_headers_keeps_stores_fresh():
    schema = _schema()
    before = _digest(schema)
    schema["headers"]["requests"]["rows"]["granted"] = "（一）予以公开（改）"
    schema["headers"]["appeals"] = {"columns": {}}
    assert _digest(schema) == before
    del schema["headers"]
    assert _digest(schema) == before


def test_a_change_that_decides_extraction_makes_stores_stale():
    schema = _schema()
    before = _digest(schema)
    changed = json.loads(json.dumps(schema))
    changed["templates"]["v2021"]["requests"]["rows"][0]["labels"].append("本年新收申请")
    assert _digest(changed) != before
    changed = json.loads(json.dumps(schema))
    changed["money_fields"] = {}
    assert _digest(changed) != before


def test_layout_of_the_file_does_not_count():
    schema = _schema()
    reordered = dict(reversed(list(schema.items())))
    assert _digest(schema) == _digest(schema, indent=2) == _digest(reordered)


def test_the_installed_schema_digest_is_the_content_digest_and_in_the_pipeline_version():
    data = resources.files("nianbao.labels").joinpath("schema.json").read_bytes()
    assert schema_digest() == schema_content_digest(data)
    assert f"schema {schema_digest()};" in pipeline_version()


def test_a_schema_that_is_not_an_object_is_an_error():
    with pytest.raises(ValueError):
        schema_content_digest(b"[1, 2]")
