"""The fence around the moto internals the local S3 hooks (s3_streaming.py): every private name it patches or
relies on is listed in HOOKS with the shape it relies on, and `check()` verifies them all before the local AWS
starts (it refuses to start, naming each one that is missing or changed) - as fakesnow_compat.py does for
fakesnow.

Written against moto 5.2.5 (see /work/shared/docs/local-cloud-facts.md). s3_streaming.py replaces
FakeMultipart.complete with a copy that leaves out the concatenation: a moto whose complete() no longer has the
steps that copy repeats (part ETag check, EntityTooSmall, checksum builder, "<md5 of md5s>-<n>") fails here,
instead of the local S3 silently validating multipart uploads by moto's old rules.
"""

from __future__ import annotations

import importlib
import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


class MotoIncompatible(RuntimeError):
    """moto no longer has a name the local AWS hooks, or no longer has the shape it relies on."""


_MISSING = object()


def _resolve(dotted: str) -> Any:
    """`package.module.attr.attr` -> the object (a property as the property, not its value), or _MISSING."""
    parts = dotted.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            obj: Any = importlib.import_module(".".join(parts[:cut]))
        except ImportError:
            continue
        for attr in parts[cut:]:
            obj = inspect.getattr_static(obj, attr, _MISSING)
            if obj is _MISSING:
                return _MISSING
        return obj
    return _MISSING


def _function(*params: str) -> Callable[[Any], bool]:
    def probe(obj: Any) -> bool:
        return callable(obj) and list(inspect.signature(obj).parameters)[: len(params)] == list(params)

    return probe


def _source_has(*snippets: str) -> Callable[[Any], bool]:
    def probe(obj: Any) -> bool:
        try:
            source = inspect.getsource(obj.fget if isinstance(obj, property) else obj)
        except (OSError, TypeError):
            return False
        return all(s in source for s in snippets)

    return probe


def _all(*probes: Callable[[Any], bool]) -> Callable[[Any], bool]:
    return lambda obj: all(p(obj) for p in probes)


@dataclass(frozen=True)
class Hook:
    name: str  # the dotted name, as the refusal names it
    shape: str  # what the local AWS relies on, in words
    probe: Callable[[Any], bool]  # given the resolved object: does it still have that shape?


HOOKS: tuple[Hook, ...] = (
    # an object's bytes: a property over a spooled file, guarded by the key's lock
    Hook(
        "moto.s3.models.FakeKey.value",
        "property (getter reads self._value_buffer under self.lock; setter writes it and sets contentsize)",
        lambda p: (
            isinstance(p, property)
            and p.fset is not None
            and _source_has("self._value_buffer", "self.lock")(p.fget)
            and _source_has("self._value_buffer", "self.contentsize")(p.fset)
        ),
    ),
    Hook(
        "moto.s3.models.FakeKey.__init__",
        "keeps the value in a tempfile.SpooledTemporaryFile(self._max_buffer_size) as self._value_buffer",
        _source_has(
            "self._max_buffer_size = (", "self._value_buffer = tempfile.SpooledTemporaryFile(self._max_buffer_size)"
        ),
    ),
    Hook("moto.s3.models.FakeKey.size", "property (the object's length)", lambda p: isinstance(p, property)),
    Hook("moto.s3.models.get_s3_default_key_buffer_size", "function () -> int", _function()),
    # GetObject: the body is key.value; ranges are cut from it afterwards by key_response
    Hook(
        "moto.s3.responses.S3Response.get_object",
        "function (self), returning key.value as the body, partNumber handled inside",
        _all(_function("self"), _source_has("key.value", '_get_int_param("partNumber")')),
    ),
    Hook(
        "moto.s3.responses.S3Response._handle_range_header",
        "function (self, request, response_headers, response_content), slicing response_content[begin : end + 1]",
        _all(
            _function("self", "request", "response_headers", "response_content"),
            _source_has("len(response_content)", "response_content[begin : end + 1]", "InvalidRange"),
        ),
    ),
    Hook(
        "moto.s3.responses.S3Response.key_response",
        "function (self, request, full_url, headers), calling _handle_range_header on a 200",
        _all(_function("self", "request", "full_url", "headers"), _source_has("self._handle_range_header(")),
    ),
    # CompleteMultipartUpload: s3_streaming.py's copy of complete() repeats these steps
    Hook(
        "moto.s3.models.FakeMultipart.complete",
        "function (self, body) checking part ETags and sizes, building checksums and the '<md5s>-<n>' ETag",
        _all(
            _function("self", "body"),
            _source_has(
                "InvalidPart()",
                "S3_UPLOAD_PART_MIN_SIZE",
                "EntityTooSmall()",
                "MultipartChecksumBuilder(checksum_algo, checksum_type)",
                "md5s.extend(decode_hex(part_etag)[0])",
                'f"{full_etag.hexdigest()}-{count}"',
            ),
        ),
    ),
    Hook(
        "moto.s3.models.S3Backend.complete_multipart_upload",
        "passes complete()'s value to put_object, which makes the FakeKey from it",
        _source_has("multipart.complete(body)", "self.put_object("),
    ),
    Hook("moto.s3.models.S3_UPLOAD_PART_MIN_SIZE", "int", lambda v: isinstance(v, int)),
    Hook(
        "moto.s3.models.MultipartChecksumBuilder",
        "class (algorithm, type) with .checksum_type/.checksum_algorithm, CRC64NVME FULL_OBJECT by default, "
        "a FULL_OBJECT checksum being compute_checksum of the concatenated parts",
        _all(
            inspect.isclass,
            _source_has(
                'self.checksum_algorithm: str = checksum_algorithm or "CRC64NVME"',
                '"FULL_OBJECT" if self.checksum_algorithm == "CRC64NVME" else "COMPOSITE"',
                "self.complete_object.extend(part)",
                "compute_checksum(\n                bytes(self.complete_object), self.checksum_algorithm",
            ),
        ),
    ),
    Hook(
        "moto.s3.utils.compute_checksum",
        "SHA1, CRC32C (crc32c or CRC32), CRC32, CRC64NVME (awscrt or CRC32), else SHA256; base64",
        _source_has(
            'algorithm == "SHA1"',
            'algorithm == "CRC32C"',
            "binascii.crc32(body)",
            'algorithm == "CRC64NVME"',
            "if HAS_CRT:",
            "checksums.crc64nvme(body).to_bytes(8",
            "hashlib.sha256",
            "base64.b64encode(hashed_body)",
        ),
    ),
    Hook("moto.s3.utils.HAS_CRT", "bool", lambda v: isinstance(v, bool)),
    Hook("moto.s3.exceptions.EntityTooSmall", "exception class", inspect.isclass),
    Hook("moto.s3.exceptions.InvalidPart", "exception class", inspect.isclass),
    Hook("moto.s3.exceptions.MalformedXML", "exception class", inspect.isclass),
    Hook("moto.s3.exceptions.InvalidPartOrder", "exception class", inspect.isclass),
    Hook(
        "moto.s3.models.FakeMultipart.set_part",
        "function (self, part_id, value): a part is a FakeKey named by its part number",
        _all(_function("self", "part_id", "value"), _source_has("FakeKey(\n            part_id,")),
    ),
    Hook("moto.utilities.utils.md5_hash", "function", callable),
)


def problems() -> list[str]:
    out = []
    for hook in HOOKS:
        obj = _resolve(hook.name)
        try:
            ok = obj is not _MISSING and hook.probe(obj)
        except Exception:  # noqa: BLE001 - a probe that cannot even run means the shape changed
            ok = False
        if not ok:
            out.append(f"{hook.name}: {'missing' if obj is _MISSING else 'changed'} (expected: {hook.shape})")
    return out


def check() -> None:
    """Refuse to start when a hooked name is missing or no longer has its shape, naming each one."""
    if found := problems():
        from importlib.metadata import version

        raise MotoIncompatible(
            f"the local AWS cannot start on moto {version('moto')}: "
            f"{len(found)} hooked name(s) missing or changed (helpers/local_cloud/moto_compat.py):\n  "
            + "\n  ".join(found)
        )
