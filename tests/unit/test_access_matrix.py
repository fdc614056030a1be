"""The access matrix's bookkeeping (helpers/access_probe.py, helpers/access_matrix.py): each cell is the
answer of its own call, and the table and short words say what the answers were. The calls against
the local cloud are exercised by notebook 02 (its closing assertions) and tests/integration/test_access_matrix.py."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError

from helpers import access_matrix, access_probe


class FakeS3:
    """Allows what `allowed` names ((operation, prefix) pairs), denies the rest, records every call."""

    def __init__(self, allowed: set[tuple[str, str]]):
        self.allowed, self.calls = allowed, []

    def _call(self, op: str, key: str) -> dict[str, Any]:
        self.calls.append((op, key))
        if not any(op == o and key.startswith(p) for o, p in self.allowed):
            raise ClientError({"Error": {"Code": "AccessDenied", "Message": "no"}}, op)
        return {"Body": type("B", (), {"read": lambda self: b"x"})()}

    def get_object(self, Bucket, Key):  # noqa: N803 - boto3's names
        return self._call("get", Key)

    def put_object(self, Bucket, Key, Body):  # noqa: N803
        return self._call("put", Key)

    def list_objects_v2(self, Bucket, Prefix, MaxKeys):  # noqa: N803
        return self._call("list", Prefix)

    def delete_object(self, Bucket, Key):  # noqa: N803
        return self._call("delete", Key)


def test_each_cell_is_its_own_call_on_the_right_key():
    s3 = FakeS3({("get", "data/"), ("put", "data/"), ("list", "scripts/")})
    results = access_probe.probe_s3(
        s3, "b", {"data/": "data/", "scripts/": "scripts/"}, {"data/": "data/x.ndjson", "scripts/": None}, "t"
    )
    assert results == {
        "data/": {
            "s3:GetObject": "allowed",
            "s3:PutObject": "allowed",
            "s3:ListBucket": "AccessDenied",
            "s3:DeleteObject": "AccessDenied",
        },
        "scripts/": {
            "s3:GetObject": access_probe.NO_OBJECT,
            "s3:PutObject": "AccessDenied",
            "s3:ListBucket": "allowed",
            "s3:DeleteObject": "AccessDenied",
        },
    }
    # reads an existing object; writes and deletes only the probe's own key
    assert ("get", "data/x.ndjson") in s3.calls
    assert {k for op, k in s3.calls if op in {"put", "delete"}} == {
        "data/_access_probe/t.txt",
        "scripts/_access_probe/t.txt",
    }
    assert not any(op == "get" and k.startswith("scripts/") for op, k in s3.calls)  # nothing there to read


def test_table_has_a_row_per_principal_and_action_and_short_words():
    m = access_matrix.AccessMatrix()
    row = dict.fromkeys(access_probe.ACTIONS, "AccessDenied") | {"s3:GetObject": "allowed"}
    m.add("operator", {"data/": row, "other/": dict.fromkeys(access_probe.ACTIONS, access_probe.NO_OBJECT)})
    m.add("glue role", {"data/": row, "other/": row})
    table = m.table()
    assert list(table.index) == [(p, a) for p in ("glue role", "operator") for a in access_probe.ACTIONS]
    assert list(table.columns) == ["data/", "other/"]
    assert table.loc[("glue role", "s3:GetObject"), "data/"] == "allowed"
    assert table.loc[("glue role", "s3:PutObject"), "data/"] == "denied"
    assert table.loc[("operator", "s3:PutObject"), "other/"] == "n/a (nothing there)"
    assert m.result("glue role", "data/", "s3:PutObject") == "AccessDenied"  # the raw answer stays


def test_short_words():
    assert access_matrix.short("AccessDeniedException") == "denied"
    assert access_matrix.short("cannot assume the role (AccessDenied)") == "cannot assume: denied"
    assert access_matrix.short("NoSuchBucket") == "NoSuchBucket"  # anything else is shown as it came


def test_in_cloud_mode_the_snowflake_row_says_it_was_not_probed():
    from helpers.settings import Settings

    s = Settings(mode="cloud", bucket="b", aws_region="eu-west-1")
    results = access_matrix.probe_snowflake(s, "arn:aws:iam::1:role/r", None, {})
    assert set(results) == set(access_matrix.prefixes(s))
    assert {v for row in results.values() for v in row.values()} == {
        "not probed: only Snowflake holds its principal's keys"
    }
