"""moto 5.2.5's S3 without whole-object copies in memory, for the paths big files take.

* Ranged GET (DuckDB's httpfs reads a file as many `Range: bytes=a-b` GETs): moto reads the whole
  object into memory (and copies it) for every range, then slices. Here a ranged GET reads just
  the range from the object's buffer.
* CompleteMultipartUpload (boto3 uploads big files in parts): moto concatenates every part into
  one bytearray, copies it to bytes and writes that into the new object. Here the parts are copied
  into the object's buffer in chunks (it spills to disk like any moto object above
  MOTO_S3_DEFAULT_KEY_BUFFER_SIZE); a full-object checksum is computed block by block.
* GET without Range (the Glue job downloading its source): moto reads the whole object into one bytes
  value and sends that. Here an object bigger than moto's in-memory buffer is sent in blocks.

Behaviour is moto's otherwise (same validation, status codes, Content-Range, ETag, checksums, headers,
errors); the moto names hooked here are checked at start by moto_compat.py. Installed by aws_server.py.
"""

from __future__ import annotations

import codecs
import hashlib
import os
import tempfile
import threading
from collections.abc import Iterator
from typing import Any

from helpers.local_cloud import moto_compat

CHUNK = 8 * 1024 * 1024  # copying between moto's files
SEND_CHUNK = 1024 * 1024  # a streamed GET's blocks: what one response holds in memory
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

    def materialise(self) -> Any:
        """The whole object, for a Range moto answers with all of it (200 to a multi-range or an
        unparsable one): streamed, as a GET without Range is, if it is big."""
        from moto.s3.models import get_s3_default_key_buffer_size

        return StreamedBody(self.key) if self.key.size > get_s3_default_key_buffer_size() else self.key.value


class StreamedBody:
    """An object's bytes for a GET without Range, sent SEND_CHUNK by SEND_CHUNK (a WSGI iterable: the server sends
    the Content-Length moto set and then the blocks). It reads a duplicate of the file descriptor of the
    object's spooled file, taken when the GET is answered: an overwrite or delete during the download
    closes moto's file but not this one, so the client gets the bytes of the version it asked for."""

    def __init__(self, key: Any):
        self.size = key.size
        with key.lock:
            self.fd: int | None = os.dup(key._value_buffer.fileno())  # noqa: SLF001 - fenced in moto_compat

    def __len__(self) -> int:
        return self.size

    def __iter__(self) -> Iterator[bytes]:
        offset = 0
        try:
            while offset < self.size and self.fd is not None:
                block = os.pread(self.fd, min(SEND_CHUNK, self.size - offset), offset)
                if not block:
                    break
                offset += len(block)
                yield block
        finally:
            self.close()

    def close(self) -> None:  # WSGI servers call it when the response ends, sent or not
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    __del__ = close


class PartsValue:
    """A completed multipart upload's bytes, already concatenated into a spooled temporary file
    (moto disposes of the parts' own buffers before the new object is made): the new object takes
    the file over as its buffer. `checksum`, if given, is fed every block on the way."""

    def __init__(self, parts: list[Any], checksum: FullObjectChecksum | None = None):
        from moto.s3.models import get_s3_default_key_buffer_size

        self.buffer = tempfile.SpooledTemporaryFile(max_size=get_s3_default_key_buffer_size())  # noqa: SIM115
        self.size = 0
        for part in parts:
            with part.lock:
                part._value_buffer.seek(0)  # noqa: SLF001 - fenced in moto_compat
                while block := part._value_buffer.read(CHUNK):  # noqa: SLF001
                    self.buffer.write(block)
                    self.size += len(block)
                    if checksum is not None:
                        checksum.update(block)

    def __len__(self) -> int:
        return self.size


class FullObjectChecksum:
    """moto.s3.utils.compute_checksum(whole object, algorithm), computed block by block: the same
    algorithm choices and fallbacks (without awscrt CRC64NVME is CRC32, without crc32c CRC32C is too)."""

    def __init__(self, algorithm: str):
        from moto.s3.utils import HAS_CRT

        self.algorithm, self.crc = algorithm, 0
        self.kind = "crc32"
        if algorithm == "SHA1":
            self.kind, self.hash = "hash", hashlib.sha1(usedforsecurity=False)
        elif algorithm == "CRC32C":
            try:
                import crc32c  # noqa: F401

                self.kind = "crc32c"
            except ImportError:
                pass
        elif algorithm == "CRC64NVME" and HAS_CRT:
            self.kind = "crc64nvme"
        elif algorithm not in {"CRC32", "CRC32C", "CRC64NVME"}:
            self.kind, self.hash = "hash", hashlib.sha256(usedforsecurity=False)

    def update(self, block: bytes) -> None:
        import binascii

        if self.kind == "hash":
            self.hash.update(block)
        elif self.kind == "crc32c":
            import crc32c

            self.crc = crc32c.crc32c(block, self.crc)
        elif self.kind == "crc64nvme":
            from awscrt import checksums

            self.crc = checksums.crc64nvme(block, self.crc)
        else:
            self.crc = binascii.crc32(block, self.crc)

    def value(self) -> str:
        import base64

        if self.kind == "hash":
            digest = self.hash.digest()
        else:
            digest = self.crc.to_bytes(8 if self.kind == "crc64nvme" else 4, "big")
        return base64.b64encode(digest).decode()


def _install_streamed_get() -> None:
    from moto.s3 import models, responses

    value_property = models.FakeKey.value

    def get_value(self: Any) -> Any:
        mode = getattr(_lazy_get, "mode", None)
        if mode == "range":
            return LazyValue(self)
        # an object within moto's in-memory buffer is small: moto's own bytes
        if mode == "whole" and self.size > models.get_s3_default_key_buffer_size():
            return StreamedBody(self)
        return value_property.fget(self)

    def set_value(self: Any, new_value: Any) -> None:
        if not isinstance(new_value, PartsValue):
            # a value bigger than the in-memory buffer (an uploaded part, a big PUT) goes to disk at
            # once: written into the spooled file's BytesIO first, it would be copied twice more
            # (the BytesIO, then its getvalue() on rollover)
            if len(new_value) > self._max_buffer_size:
                self._value_buffer.rollover()
            return value_property.fset(self, new_value)
        self._value_buffer.close()
        self._value_buffer = new_value.buffer
        self.contentsize = new_value.size

    models.FakeKey.value = property(get_value, set_value)

    original_get_object = responses.S3Response.get_object

    def get_object(self: Any) -> Any:
        # the same test key_response uses to decide whether to cut a range from the body
        ranged = bool(self.headers.get("range"))
        if self._get_int_param("partNumber"):
            _lazy_get.mode = None  # moto's own path (206 with the whole single-part object)
        else:
            _lazy_get.mode = "range" if ranged else "whole"
        try:
            return original_get_object(self)
        finally:
            _lazy_get.mode = None

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
    from moto.s3.exceptions import EntityTooSmall, InvalidPart, InvalidPartOrder, MalformedXML
    from moto.s3.models import S3_UPLOAD_PART_MIN_SIZE, MultipartChecksumBuilder
    from moto.utilities.utils import md5_hash

    def complete(self: Any, body: Any) -> tuple[Any, str, Any]:
        # moto's FakeMultipart.complete, with the concatenation left to FakeKey's value setter and a
        # full-object checksum (moto's default, CRC64NVME) computed while the parts are copied
        checksum_algo = self.metadata.get("x-amz-checksum-algorithm")
        checksum_type = self.metadata.get("x-amz-checksum-type")
        decode_hex = codecs.getdecoder("hex_codec")
        md5s = bytearray()
        checksum_builder = MultipartChecksumBuilder(checksum_algo, checksum_type)
        composite = checksum_builder.checksum_type == "COMPOSITE"
        parts: list[Any] = []
        last = None
        for pn, etag in body:
            # S3 refuses a parts list not in ascending order (InvalidPartOrder); moto's parser means to
            # check it but never advances its `prev`, so a list like 2, 1 would complete
            if parts and pn <= parts[-1].name:
                raise InvalidPartOrder()
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
            if composite:  # a checksum of the parts' checksums: one part's bytes at a time
                checksum_builder.addPart(part.value)
            parts.append(part)
            last = part
        if not parts:
            raise MalformedXML
        full_etag = md5_hash()
        full_etag.update(bytes(md5s))
        full_object = None if composite else FullObjectChecksum(checksum_builder.checksum_algorithm)
        value = PartsValue(parts, full_object)
        details = (
            checksum_builder.build()
            if full_object is None
            else (checksum_builder.checksum_type, full_object.value(), 1)
        )
        return value, f"{full_etag.hexdigest()}-{len(parts)}", details

    models.FakeMultipart.complete = complete


def install() -> None:
    moto_compat.check()  # refuses to start, naming each hooked moto name that is missing or changed
    _install_streamed_get()
    _install_streaming_multipart()
