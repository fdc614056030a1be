"""The fence around fakesnow's private names (helpers/local_cloud/fakesnow_compat.py): the installed
fakesnow has every hooked name with its expected shape, and a fakesnow without one - simulated here by
taking the name away or changing its shape - makes the local warehouse refuse to start, naming it."""

from __future__ import annotations

from string import Template

import pytest

from helpers.local_cloud import fakesnow_compat, snowflake_server
from helpers.local_cloud.stage_s3 import Principal


def test_the_installed_fakesnow_has_every_hooked_name():
    assert fakesnow_compat.problems() == []
    names = {h.name for h in fakesnow_compat.HOOKS}
    assert {
        "fakesnow.transforms.flatten",
        "fakesnow.server.shared_fs",
        "starlette.requests.Request.body",
        "fakesnow catalog table _fs_information_schema._fs_load_history",
    } <= names


def test_a_missing_hooked_name_stops_the_local_warehouse_from_starting_and_is_named(monkeypatch, tmp_path):
    import fakesnow.transforms

    monkeypatch.delattr(fakesnow.transforms, "create_clone")
    with pytest.raises(fakesnow_compat.FakesnowIncompatible) as refused:
        snowflake_server.build_app(
            tmp_path, "http://127.0.0.1:1", "us-east-1", Principal("arn:aws:iam::1:user/s", "a", "b")
        )
    assert "fakesnow.transforms.create_clone: missing" in str(refused.value)
    assert not (tmp_path / "databases").exists()  # refused before it touched the state dir


def test_a_function_whose_signature_changed_is_named(monkeypatch):
    import fakesnow.server

    monkeypatch.setattr(fakesnow.server, "to_conn", lambda session_token: None)
    with pytest.raises(fakesnow_compat.FakesnowIncompatible, match=r"fakesnow\.server\.to_conn: changed"):
        fakesnow_compat.check()


def test_a_request_body_no_longer_cached_in_underscore_body_is_named(monkeypatch):
    from starlette.requests import Request

    async def body(self):  # a Starlette that keeps the body elsewhere: replacing _body would do nothing
        return b""

    monkeypatch.setattr(Request, "body", body)
    assert [p for p in fakesnow_compat.problems() if p.startswith("starlette.requests.Request.body: changed")]


def test_a_catalog_table_with_other_columns_is_named(monkeypatch):
    """The load history is INSERTed positionally (copy_json.py): a reordered table would mix up columns."""
    from fakesnow import info_schema

    text = info_schema.SQL_CREATE_LOAD_HISTORY_TABLE.template.replace(
        "ROW_COUNT INTEGER,\n    ROW_PARSED INTEGER", "ROW_PARSED INTEGER,\n    ROW_COUNT INTEGER"
    )
    assert text != info_schema.SQL_CREATE_LOAD_HISTORY_TABLE.template
    monkeypatch.setattr(info_schema, "SQL_CREATE_LOAD_HISTORY_TABLE", Template(text))
    found = fakesnow_compat.problems()
    assert len(found) == 1 and found[0].startswith("fakesnow catalog table _fs_information_schema._fs_load_history")


def test_a_transform_no_longer_called_through_the_module_is_named(monkeypatch):
    """Reassigning fakesnow.transforms.flatten only works while the cursor calls it as transforms.flatten."""
    from fakesnow.cursor import FakeSnowflakeCursor

    def _transform(self, expression, params):  # a cursor that imported the functions directly
        return expression

    monkeypatch.setattr(FakeSnowflakeCursor, "_transform", _transform)
    assert [p for p in fakesnow_compat.problems() if p.startswith("fakesnow.cursor.FakeSnowflakeCursor._transform")]
