"""moto 5.2.5's S3 without whole-object copies in memory, for the two paths big files take.

* Ranged GET (DuckDB's httpfs reads a file as many `Range: bytes=a-b` GETs): moto reads the whole
  object into memory (and copies it) for every range, then slices. Here a ranged GET reads just
  the range from the object's buffer.
* CompleteMultipartUpload (boto3 uploads big files in parts): moto concatenates every part into
  one bytearray, copies it to bytes and writes that into the new object. Here the parts are copied
  into the object's buffer in chunks (it spills to disk like any moto object above
  MOTO_S3_DEFAULT_KEY_BUFFER_SIZE).

Behaviour is moto's otherwise (same validation, ETag, headers, errors). Installed by aws_server.py.
"""

from __future__ import annotations

import codecs
import tempfile
import threading
from typing import Any

CHUNK = 8 * 1024 * 1024
_lazy_get = threading.local()


class LazyValue:
    """An object's bytes, read on demand: `len()` and slicing only, as moto's range code uses."""

    def __init__(self, key: Any):
        self.key = key

    def __len__(self) -> int:
        return self.key.size

    def __bool__(self) -> bool:
        return self.key.size > 0

    def __getitem__(self, index: slice) -> bytes:
        start, stop, step = index.indices(self.key.size)
        assert step == 1, "only contiguous ranges are read lazily"
        with self.key.lock:
            self.key._value_buffer.seek(start)
            return self.key._value_buffer.read(max(0, stop - start))

    def materialise(self) -> bytes:
        return self.key.value


class PartsValue:
    """A completed multipart upload's bytes, already concatenated into a spooled temporary file
    (moto disposes of the parts' own buffers before the new object is made): the new object takes
    the file over as its buffer."""

    def __init__(self, parts: list[Any]):
        from moto.s3.models import get_s3_default_key_buffer_size

        self.buffer = tempfile.SpooledTemporaryFile(max_size=get_s3_default_key_buffer_size())  # noqa: SIM115
        self.size = 0
        for part in parts:
            with part.lock:
                part._value_buffer.seek(0)
                while block := part._value_buffer.read(CHUNK):
                    self.buffer.write(block)
                    self.size += len(block)

    def __len__(self) -> int:
        return self.size


def _install_ranged_get() -> None:
    from moto.s3 import models, responses

    value_property = models.FakeKey.value

    def get_value(self: Any) -> Any:
        if getattr(_lazy_get, "active", False):
            return LazyValue(self)
        return value_property.fget(self)

    def set_value(self: Any, new_value: Any) -> None:
        if not isinstance(new_value, PartsValue):
            return value_property.fset(self, new_value)
        self._value_buffer.close()
        self._value_buffer = new_value.buffer
        self.contentsize = new_value.size

    models.FakeKey.value = property(get_value, set_value)

    original_get_object = responses.S3Response.get_object

    def get_object(self: Any) -> Any:
        ranged = bool(self.headers.get("range")) and not self._get_int_param("partNumber")
        _lazy_get.active = ranged
        try:
            return original_get_object(self)
        finally:
            _lazy_get.active = False

    responses.S3Response.get_object = get_object

    original_range = responses.S3Response._handle_range_header

    def handle_range_header(self: Any, request: Any, response_headers: Any, response_content: Any) -> Any:
        status, headers, content = original_range(self, request, response_headers, response_content)
        if isinstance(content, LazyValue):  # a range moto serves as a whole object (e.g. "bytes=0-")
            content = content.materialise()
        return status, headers, content

    responses.S3Response._handle_range_header = handle_range_header

    original_key_response = responses.S3Response.key_response

    def key_response(self: Any, request: Any, full_url: str, headers: Any) -> Any:
        status, response_headers, content = original_key_response(self, request, full_url, headers)
        if isinstance(content, LazyValue):  # a ranged GET answered without range handling (not 200)
            content = content.materialise()
        return status, response_headers, content

    responses.S3Response.key_response = key_response


def _install_streaming_multipart() -> None:
    from moto.s3 import models
    from moto.s3.exceptions import EntityTooSmall, InvalidPart, MalformedXML
    from moto.s3.models import S3_UPLOAD_PART_MIN_SIZE, MultipartChecksumBuilder
    from moto.utilities.utils import md5_hash

    def complete(self: Any, body: Any) -> tuple[Any, str, Any]:
        # moto's FakeMultipart.complete, with the concatenation left to FakeKey's value setter
        checksum_algo = self.metadata.get("x-amz-checksum-algorithm")
        checksum_type = self.metadata.get("x-amz-checksum-type")
        decode_hex = codecs.getdecoder("hex_codec")
        md5s = bytearray()
        checksum_builder = MultipartChecksumBuilder(checksum_algo, checksum_type)
        parts: list[Any] = []
        last = None
        for pn, etag in body:
            part = self.parts.get(pn)
            part_etag = None
            if part is not None:
                part_etag = part.etag.replace('"', "")
                etag = etag.replace('"', "")
            if part is None or part_etag != etag:
                raise InvalidPart()
            if last is not None and last.contentsize < S3_UPLOAD_PART_MIN_SIZE:
                raise EntityTooSmall()
            md5s.extend(decode_hex(part_etag)[0])  # type: ignore[arg-type]
            if checksum_algo:  # the builder needs the part's bytes only when there is a checksum
                checksum_builder.addPart(part.value)
            parts.append(part)
            last = part
        if not parts:
            raise MalformedXML
        full_etag = md5_hash()
        full_etag.update(bytes(md5s))
        return PartsValue(parts), f"{full_etag.hexdigest()}-{len(parts)}", checksum_builder.build()

    models.FakeMultipart.complete = complete


def install() -> None:
    _install_ranged_get()
    _install_streaming_multipart()
