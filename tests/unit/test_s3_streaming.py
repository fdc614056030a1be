"""The local S3's streaming patches (helpers/local_cloud/s3_streaming.py) and their fence
(helpers/local_cloud/moto_compat.py): the installed moto has every hooked name with its expected shape, a
moto without one makes the local AWS refuse to start naming it, and the streamed CompleteMultipartUpload
gives exactly what moto's own gives (bytes, ETag, checksum, errors) - moto being the reference here, and
the end-to-end behaviour against S3's documentation is in tests/integration/test_local_aws_strictness.py."""

from __future__ import annotations

import os

import pytest
from moto.s3 import exceptions, models, responses
from moto.utilities.utils import CaseInsensitiveDict

from helpers.local_cloud import moto_compat, s3_streaming

MIB = 1 << 20


def test_the_installed_moto_has_every_hooked_name():
    assert moto_compat.problems() == []
    names = {h.name for h in moto_compat.HOOKS}
    assert {
        "moto.s3.models.FakeKey.value",
        "moto.s3.responses.S3Response._handle_range_header",
        "moto.s3.models.FakeMultipart.complete",
    } <= names


def test_a_missing_hooked_name_stops_the_local_aws_from_starting_and_is_named(monkeypatch):
    monkeypatch.delattr(responses.S3Response, "_handle_range_header")
    original_get = responses.S3Response.get_object
    with pytest.raises(moto_compat.MotoIncompatible) as refused:
        s3_streaming.install()
    assert "moto.s3.responses.S3Response._handle_range_header: missing" in str(refused.value)
    assert responses.S3Response.get_object is original_get  # refused before it patched anything


def test_a_complete_that_no_longer_does_what_the_copy_repeats_is_named(monkeypatch):
    """s3_streaming replaces complete() with a copy: a moto whose complete() changed must not start."""

    def complete(self, body):  # e.g. a moto that validates part order too
        raise NotImplementedError

    monkeypatch.setattr(models.FakeMultipart, "complete", complete)
    assert any(p.startswith("moto.s3.models.FakeMultipart.complete: changed") for p in moto_compat.problems())


def _multipart(metadata: dict[str, str], parts: list[bytes]) -> models.FakeMultipart:
    mp = models.FakeMultipart("k", CaseInsensitiveDict(metadata), "123456789012", "us-east-1")
    for i, data in enumerate(parts, start=1):
        mp.set_part(i, data)
    return mp


def _body(value: object) -> bytes:
    if isinstance(value, s3_streaming.PartsValue):
        value.buffer.seek(0)
        return value.buffer.read()
    return bytes(value)  # type: ignore[arg-type]


@pytest.fixture
def streamed_complete(monkeypatch):
    """(moto's complete, the streamed one); moto's is put back afterwards."""
    moto_complete = models.FakeMultipart.complete
    monkeypatch.setattr(models.FakeMultipart, "complete", moto_complete)
    s3_streaming._install_streaming_multipart()
    return moto_complete, models.FakeMultipart.complete


@pytest.mark.parametrize(
    "metadata",
    [
        {},  # moto's default: a CRC64NVME full-object checksum
        {"x-amz-checksum-algorithm": "CRC32"},  # COMPOSITE
        {"x-amz-checksum-algorithm": "CRC32", "x-amz-checksum-type": "FULL_OBJECT"},
        {"x-amz-checksum-algorithm": "CRC32C", "x-amz-checksum-type": "FULL_OBJECT"},
        {"x-amz-checksum-algorithm": "SHA256"},
    ],
)
def test_the_streamed_complete_gives_what_moto_gives(streamed_complete, metadata):
    """Same object bytes, ETag ("<md5 of the part MD5s>-<n>",
    https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html) and checksum
    as moto's complete(), for every checksum kind; the parts are bigger than the copy's 8 MiB block."""
    moto_complete, streamed = streamed_complete
    parts = [os.urandom(9 * MIB), os.urandom(5 * MIB), os.urandom(1234)]
    ours = _multipart(metadata, parts)
    theirs = _multipart(metadata, parts)
    listing = [(i, ours.parts[i].etag) for i in (1, 2, 3)]
    value, etag, checksum = streamed(ours, iter(listing))
    expected_value, expected_etag, expected_checksum = moto_complete(theirs, iter(listing))
    assert isinstance(value, s3_streaming.PartsValue) and len(value) == len(expected_value)
    assert _body(value) == expected_value == b"".join(parts)
    assert etag == expected_etag and etag.endswith("-3")
    assert checksum == expected_checksum


@pytest.mark.parametrize(
    "case, error",
    [
        ("wrong etag", exceptions.InvalidPart),
        ("unknown part", exceptions.InvalidPart),
        ("small part before the last", exceptions.EntityTooSmall),
        ("no parts", exceptions.MalformedXML),
    ],
)
def test_the_streamed_complete_refuses_what_moto_refuses(streamed_complete, case, error):
    """CompleteMultipartUpload errors (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html):
    InvalidPart (a listed part not uploaded, or its ETag not the part's), EntityTooSmall (a part other
    than the last under 5 MiB); moto answers an empty part list with MalformedXML."""
    moto_complete, streamed = streamed_complete
    parts = [os.urandom(MIB), os.urandom(MIB)] if case.startswith("small") else [os.urandom(5 * MIB), b"x"]
    listing = {
        "wrong etag": lambda mp: [(1, '"' + "0" * 32 + '"')],
        "unknown part": lambda mp: [(1, mp.parts[1].etag), (7, mp.parts[1].etag)],
        "small part before the last": lambda mp: [(1, mp.parts[1].etag), (2, mp.parts[2].etag)],
        "no parts": lambda mp: [],
    }[case]
    for complete in (moto_complete, streamed):
        mp = _multipart({}, parts)
        with pytest.raises(error):
            complete(mp, iter(listing(mp)))


def test_a_parts_list_out_of_order_is_refused(streamed_complete):
    """ "InvalidPartOrder: The list of parts was not in ascending order. The parts list must be specified in
    order by part number." (https://docs.aws.amazon.com/AmazonS3/latest/API/API_CompleteMultipartUpload.html).
    moto's own parser means to refuse it but never advances its previous part number: the local S3 does."""
    _, streamed = streamed_complete
    mp = _multipart({}, [os.urandom(5 * MIB), os.urandom(5 * MIB)])
    with pytest.raises(exceptions.InvalidPartOrder):
        streamed(mp, iter([(2, mp.parts[2].etag), (1, mp.parts[1].etag)]))
    with pytest.raises(exceptions.InvalidPartOrder):
        streamed(mp, iter([(1, mp.parts[1].etag), (1, mp.parts[1].etag)]))
