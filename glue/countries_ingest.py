"""AWS Glue Python shell job: land the REST Countries JSON file in S3 as NDJSON.

Flow: download ``--source_url`` (http, https or file://) -> check size, UTF-8 and JSON ->
validate each country record -> write the valid records to ``s3://<bucket>/<key>`` and the
rejected ones to ``s3://<bucket>/<quarantine_prefix><run_id>/rejected.ndjson``.

It runs on Glue's Python 3.9 runtime, so it uses only the standard library (urllib for HTTP)
and boto3, which Glue provides. There is no local-vs-cloud switch in here: boto3 reads the
standard ``AWS_ENDPOINT_URL`` environment variable when it is set, so the very same script
runs against a local S3 emulator.

Job parameters (Glue passes every value as a string):
  required  --source_url --bucket --key --quarantine_prefix
  optional  --max_bytes (104857600) --timeout_seconds (30) --max_attempts (4)
            --run_id (default: Glue's --JOB_RUN_ID, else "manual")
            --skip_if_sha256 (the source sha256 the landed file already holds: when the fresh
            download has that sha256, nothing is written and the summary says "unchanged")
            --code_pattern (a regular expression cca3 must match in full; default: the ISO 3166-1
            alpha-3 rule, exactly 3 uppercase letters. Synthetic data sets larger than the 17,576
            possible 3-letter codes, e.g. the benchmark's, pass their own pattern)

Memory: the script streams. The download goes in chunks to a temporary file (the size cap is
checked as it arrives), the JSON array is parsed one element at a time with
json.JSONDecoder.raw_decode over a sliding buffer, each record is validated and appended to a
temporary NDJSON file, and that file is uploaded from disk (multipart when large). What stays in
memory is one buffer of about a megabyte, one record, and the set of cca3 codes seen so far
(for the duplicate check), whatever the size of the source.

Outcome:
  success  exit 0 and exactly one JSON line on stdout, ``{"event": "ingest_summary", ...}``;
           progress and retry lines go to stderr.
  failure  exit 1, ``ERROR: <what, where, why, and a hint>`` on stderr and one JSON line on
           stdout, ``{"event": "ingest_failed", "stage": ..., "error": ..., <the counts known>}``.
           A failure of the whole file (download, size, encoding, JSON, shape) writes nothing
           to S3; when no record at all is valid, only the quarantine file is written. Either
           way the previously landed file stays as it was.

Every quarantined record is one line ``{"record_index", "cca3", "reason_codes", "reasons",
"record"}``: ``reason_codes`` are machine-readable (``missing:cca3``, ``type:population``,
``duplicate:cca3``, ...), ``reasons`` say the same for people.
"""
from __future__ import annotations

import hashlib
import io
import json
import os
import re
import socket
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from http.client import HTTPException
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Pattern, Sequence, Tuple

import boto3
from botocore.exceptions import BotoCoreError, ClientError

REQUIRED_ARGS = ("source_url", "bucket", "key", "quarantine_prefix")
OPTIONAL_ARG_DEFAULTS = {
    "max_bytes": "104857600",
    "timeout_seconds": "30",
    "max_attempts": "4",
}
# Optional text arguments, empty when absent (--run_id has its own default, below).
OPTIONAL_STRING_ARGS = ("run_id", "skip_if_sha256", "code_pattern")
# Glue adds its own arguments (--JOB_ID, --JOB_RUN_ID, --JOB_NAME, --job-bookmark-option,
# --scriptLocation, ...). getResolvedOptions ignores what it was not asked for but still
# returns the job-run identifiers, which this job uses as the default run_id.
GLUE_ID_ARGS = ("JOB_NAME", "JOB_ID", "JOB_RUN_ID")

# Retry backoff: RETRY_BASE_DELAY_SECONDS * 2 ** (retry - 1) -> 0.5 s, 1 s, 2 s, ...
# A module constant so that tests can set it to 0.
RETRY_BASE_DELAY_SECONDS = 0.5
READ_CHUNK_BYTES = 64 * 1024
PARSE_CHUNK_CHARS = 1024 * 1024  # the sliding parse buffer grows by this much at a time
# A source that is not an array is parsed whole only to describe it in the error (up to this size).
DESCRIBE_MAX_BYTES = 64 * 1024 * 1024
# put_object up to this size; above it a multipart upload of MULTIPART_PART_BYTES parts.
MULTIPART_THRESHOLD_BYTES = 64 * 1024 * 1024
MULTIPART_PART_BYTES = 64 * 1024 * 1024
USER_AGENT = "countries-ingest-glue-job/1.0 (+python-urllib)"

NDJSON_CONTENT_TYPE = "application/x-ndjson"
QUARANTINE_FILE_NAME = "rejected.ndjson"

_CCA3_RE = re.compile(r"\A[A-Z]{3}\Z")


class IngestError(Exception):
    """An expected failure of the whole run. main() prints it as ``ERROR: <message>``, exits 1."""


class _RetryableFetchError(Exception):
    """A transient download failure (HTTP 5xx/429, network error, timeout): worth another try."""


def log(message: str) -> None:
    """Progress and retry lines go to stderr; stdout is reserved for the one summary line."""
    print(message, file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------------
# Arguments
# ---------------------------------------------------------------------------------------------

try:  # On AWS Glue.
    from awsglue.utils import getResolvedOptions as get_resolved_options
except ImportError:  # Anywhere else (tests, a laptop): the same semantics, standard library only.

    def get_resolved_options(argv: Sequence[str], names: Sequence[str]) -> Dict[str, Optional[str]]:
        """Stand-in for awsglue.utils.getResolvedOptions.

        ``argv`` is ``sys.argv`` (``argv[0]`` is the script). Each requested name must be
        present as ``--name value`` (or ``--name=value``); the last occurrence wins. Every other
        argument, such as the ones Glue adds itself, is ignored. Like the real function, the
        result also carries JOB_NAME, JOB_ID and JOB_RUN_ID (None when absent). A missing
        requested name is an error that names it.
        """
        found: Dict[str, str] = {}
        tokens = list(argv[1:])
        i = 0
        while i < len(tokens):
            token = tokens[i]
            i += 1
            if not token.startswith("--") or len(token) == 2:
                continue  # a stray value of an argument nobody asked for
            name, sep, value = token[2:].partition("=")
            if not sep:
                if i < len(tokens) and not tokens[i].startswith("--"):
                    value = tokens[i]
                    i += 1
                else:
                    if name in names:
                        raise IngestError(f"argument --{name} expected one value but none was given")
                    continue  # a bare flag nobody asked for
            found[name] = value

        missing = [name for name in names if name not in found]
        if missing:
            raise IngestError(
                "missing required job argument(s): "
                + ", ".join(f"--{name}" for name in missing)
                + "; hint: set them as job parameters (DefaultArguments) of the Glue job,"
                " or pass them on the command line as '--name value'"
            )
        resolved: Dict[str, Optional[str]] = {name: found[name] for name in names}
        for name in GLUE_ID_ARGS:
            resolved.setdefault(name, found.get(name))
        return resolved


def _arg_present(argv: Sequence[str], name: str) -> bool:
    flag = f"--{name}"
    return any(arg == flag or arg.startswith(flag + "=") for arg in argv[1:])


def _positive_number(name: str, raw: str, kind: Callable[[str], Any], minimum: float) -> Any:
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value != value or value < minimum or value == float("inf"):
        raise IngestError(f"argument --{name} must be a {kind.__name__} >= {minimum:g}, got {raw!r}")
    return value


def parse_args(argv: Sequence[str]) -> Dict[str, Any]:
    """Resolve the job arguments the Glue way and convert the optional numeric ones.

    getResolvedOptions only knows required arguments, so an optional one is asked for only
    when it is present in argv; otherwise its default applies.
    """
    optional_present = [name for name in (*OPTIONAL_ARG_DEFAULTS, *OPTIONAL_STRING_ARGS) if _arg_present(argv, name)]
    resolved = get_resolved_options(list(argv), list(REQUIRED_ARGS) + optional_present)

    for name in REQUIRED_ARGS:
        if not resolved.get(name):
            raise IngestError(f"argument --{name} must not be empty")
    raw = {name: resolved.get(name) or default for name, default in OPTIONAL_ARG_DEFAULTS.items()}
    run_id = resolved.get("run_id") or resolved.get("JOB_RUN_ID") or "manual"
    if "/" in run_id:
        raise IngestError(f"argument --run_id must not contain '/', got {run_id!r}")
    code_pattern = resolved.get("code_pattern") or ""
    if code_pattern:
        try:
            re.compile(code_pattern)
        except re.error as exc:
            raise IngestError(f"argument --code_pattern is not a valid regular expression ({exc}): "
                              f"{code_pattern!r}") from exc
    return {
        "source_url": resolved["source_url"],
        "bucket": resolved["bucket"],
        "key": resolved["key"],
        "quarantine_prefix": resolved["quarantine_prefix"],
        "max_bytes": _positive_number("max_bytes", raw["max_bytes"], int, 1),
        "timeout_seconds": _positive_number("timeout_seconds", raw["timeout_seconds"], float, 0.001),
        "max_attempts": _positive_number("max_attempts", raw["max_attempts"], int, 1),
        "run_id": run_id,
        "skip_if_sha256": (resolved.get("skip_if_sha256") or "").strip().lower(),
        "code_pattern": code_pattern,
    }


# ---------------------------------------------------------------------------------------------
# Download
# ---------------------------------------------------------------------------------------------


def _too_large(url: str, max_bytes: int, detail: str) -> IngestError:
    return IngestError(
        f"source {url} is larger than max_bytes={max_bytes} ({detail}); stopped reading. "
        "hint: check that the URL returns the countries file and not something else; if the "
        "source legitimately grew, raise --max_bytes"
    )


def _copy_capped(response: Any, url: str, max_bytes: int, sink: Any) -> int:
    """Copy the body to `sink` in chunks; give up as soon as more than max_bytes have arrived."""
    declared = response.headers.get("Content-Length") if response.headers is not None else None
    if declared is not None and declared.strip().isdigit() and int(declared) > max_bytes:
        raise _too_large(url, max_bytes, f"it declares Content-Length {int(declared)}")
    total = 0
    while True:
        # Never ask for more than one byte past the limit.
        chunk = response.read(min(READ_CHUNK_BYTES, max_bytes + 1 - total))
        if not chunk:
            break
        total += len(chunk)
        if total > max_bytes:
            raise _too_large(url, max_bytes, f"more than {max_bytes} bytes read")
        sink.write(chunk)
    return total


def _read_capped(response: Any, url: str, max_bytes: int) -> bytes:
    """The body as bytes, read in chunks with the size cap (small bodies and tests)."""
    sink = io.BytesIO()
    _copy_capped(response, url, max_bytes, sink)
    return sink.getvalue()


def _fetch_once(url: str, max_bytes: int, timeout: float, sink: Any) -> int:
    is_file = urllib.parse.urlsplit(url).scheme.lower() == "file"
    request = urllib.request.Request(url, headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return _copy_capped(response, url, max_bytes, sink)
    except urllib.error.HTTPError as exc:
        status = f"HTTP {exc.code} {exc.reason}"
        exc.close()
        if exc.code == 429 or 500 <= exc.code <= 599:
            raise _RetryableFetchError(status) from exc
        raise IngestError(
            f"{status} from {url} (not retried: a client error does not go away by retrying). "
            "hint: check --source_url (for GitHub use the raw.githubusercontent.com URL of the file) "
            "and that the file still exists there"
        ) from exc
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, (socket.timeout, TimeoutError)):
            raise _RetryableFetchError(f"timed out after {timeout:g}s") from exc
        if is_file:
            raise IngestError(
                f"cannot read local source {url}: {reason}. hint: check the path in --source_url "
                "(file:// URLs need an absolute path, e.g. file:///data/countries.json)"
            ) from exc
        raise _RetryableFetchError(f"network error ({reason})") from exc
    except (socket.timeout, TimeoutError) as exc:
        raise _RetryableFetchError(f"timed out after {timeout:g}s") from exc
    except (ConnectionError, HTTPException) as exc:
        raise _RetryableFetchError(f"connection failed ({type(exc).__name__}: {exc})") from exc
    except OSError as exc:
        if is_file:
            raise IngestError(f"cannot read local source {url}: {exc}") from exc
        raise _RetryableFetchError(f"network error ({type(exc).__name__}: {exc})") from exc


def fetch(
    url: str,
    max_bytes: int,
    timeout: float,
    max_attempts: int,
    sleep: Callable[[float], None] = time.sleep,
) -> bytes:
    """Download url into memory (see fetch_to for the streaming form the job uses)."""
    sink = io.BytesIO()
    fetch_to(url, sink, max_bytes, timeout, max_attempts, sleep)
    return sink.getvalue()


def fetch_to(
    url: str,
    sink: Any,
    max_bytes: int,
    timeout: float,
    max_attempts: int,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    """Download url into the binary file `sink` with urllib; retry transient failures with
    exponential backoff (each attempt starts the file again). Returns the number of bytes."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in ("http", "https", "file"):
        raise IngestError(
            f"unsupported --source_url {url!r}: the scheme must be http, https or file "
            "(hint: for S3 sources copy the file to an HTTPS URL or use file:// locally)"
        )
    for attempt in range(1, max_attempts + 1):
        sink.seek(0)
        sink.truncate()
        try:
            return _fetch_once(url, max_bytes, timeout, sink)
        except _RetryableFetchError as exc:
            if attempt >= max_attempts:
                raise IngestError(
                    f"could not download {url}: {exc} (gave up after {max_attempts} attempt(s)). "
                    "hint: the source may be down or slow; re-run the job later, or raise "
                    "--timeout_seconds / --max_attempts"
                ) from exc
            delay = RETRY_BASE_DELAY_SECONDS * 2 ** (attempt - 1)
            log(f"retry {attempt}/{max_attempts - 1}: {exc} from {url}; sleeping {delay:g}s")
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


# ---------------------------------------------------------------------------------------------
# Decode and parse
# ---------------------------------------------------------------------------------------------

_JSON_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}


def json_type_name(value: Any) -> str:
    if value is None:
        return "null"
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def decode_and_parse(raw: bytes, url: str) -> List[Any]:
    """Strict UTF-8 -> JSON -> a non-empty top-level array."""
    try:
        text = raw.decode("utf-8")  # strict: a bad byte is an error, never a silent U+FFFD
    except UnicodeDecodeError as exc:
        raise IngestError(
            f"source {url} is not valid UTF-8: byte 0x{raw[exc.start]:02x} at byte offset {exc.start} "
            f"({exc.reason}). hint: the source must be UTF-8 encoded JSON; check that the URL "
            "serves the raw file and not a re-encoded copy"
        ) from exc
    try:
        # NaN/Infinity are not JSON (Snowflake rejects them); Python would accept them.
        data = json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        byte_offset = len(text[: exc.pos].encode("utf-8"))
        raise IngestError(
            f"source {url} is not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno} "
            f"(char {exc.pos}, byte {byte_offset}) of {len(raw)} bytes. hint: a truncated or "
            "interrupted download, or a URL that returns an HTML page instead of the raw file"
        ) from exc
    except ValueError as exc:
        raise IngestError(
            f"source {url} is not valid JSON: it contains the non-standard constant {exc} "
            "(NaN/Infinity are not allowed in JSON). hint: fix the source"
        ) from exc
    if not isinstance(data, list):
        what = json_type_name(data)
        if isinstance(data, dict):
            keys = ", ".join(list(data)[:5])
            what = f"object with {len(data)} key(s) ({keys})" if data else "empty object"
        raise IngestError(
            f"top level of source {url} is a JSON {what}, but a JSON array of country objects "
            "is expected. hint: point --source_url at the file that holds the array itself"
        )
    if not data:
        raise IngestError(
            f"source {url} has 0 records; refusing to replace the landed file with nothing. "
            "hint: check the source; the previously landed file was left unchanged"
        )
    return data


def _bad_json(url: str, msg: str, pos: int, path: str, size: int) -> IngestError:
    """The decode_and_parse() error for a JSON error at char `pos` of the file at `path`."""
    lineno, colno, byte_offset = _locate(path, pos)
    return IngestError(
        f"source {url} is not valid JSON: {msg} at line {lineno}, column {colno} "
        f"(char {pos}, byte {byte_offset}) of {size} bytes. hint: a truncated or "
        "interrupted download, or a URL that returns an HTML page instead of the raw file"
    )


def _locate(path: str, pos: int) -> Tuple[int, int, int]:
    """(line, column, byte offset) of char `pos` in the UTF-8 file, as json.JSONDecodeError counts."""
    lines, last_newline, seen, byte_offset = 0, -1, 0, 0
    with open(path, encoding="utf-8", newline="") as f:
        while seen < pos:
            chunk = f.read(min(PARSE_CHUNK_CHARS, pos - seen))
            if not chunk:
                break
            lines += chunk.count("\n")
            i = chunk.rfind("\n")
            if i >= 0:
                last_newline = seen + i
            byte_offset += len(chunk.encode("utf-8"))
            seen += len(chunk)
    return lines + 1, pos - last_newline, byte_offset


def hash_and_check_utf8(path: str) -> Tuple[int, str, Optional[Tuple[int, int, str]]]:
    """One pass over the file: (size, sha256, the first invalid UTF-8 sequence as (byte offset,
    byte, reason) or None), reading it in chunks (a multi-byte character may span two)."""
    digest = hashlib.sha256()
    size = 0
    offset = 0  # of `pending` in the file
    pending = b""
    problem = None
    with open(path, "rb") as f:
        while True:
            chunk = f.read(PARSE_CHUNK_CHARS)
            digest.update(chunk)
            size += len(chunk)
            if problem is not None:
                if not chunk:
                    break
                continue
            data = pending + chunk
            try:
                data.decode("utf-8")
                offset, pending = offset + len(data), b""
            except UnicodeDecodeError as exc:
                if chunk and exc.end == len(data) and len(data) - exc.start < 4:
                    offset, pending = offset + exc.start, data[exc.start:]  # completed by the next chunk
                else:
                    problem = (offset + exc.start, data[exc.start], exc.reason)
            if not chunk:
                break
    return size, digest.hexdigest(), problem


def iter_json_array(path: str, url: str, size: int) -> Iterator[Any]:
    """The elements of the top-level JSON array in the (valid UTF-8) file, one at a time.

    Equivalent to decode_and_parse() on the whole file, with the same errors, but it holds only a
    sliding buffer of about PARSE_CHUNK_CHARS plus the element being parsed: each element is
    parsed with json.JSONDecoder.raw_decode; when an element runs past the end of the buffer,
    the buffer is extended and the element parsed again.
    """
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    whitespace = " \t\n\r"
    with open(path, encoding="utf-8", newline="") as f:
        buf, base, pos, eof = "", 0, 0, False  # buf[pos] is char base + pos of the file

        def more() -> None:
            nonlocal buf, base, pos, eof
            if pos > PARSE_CHUNK_CHARS:  # slide: drop what was consumed
                buf, base, pos = buf[pos:], base + pos, 0
            chunk = f.read(PARSE_CHUNK_CHARS)
            eof = len(chunk) < PARSE_CHUNK_CHARS
            buf += chunk

        def skip_whitespace() -> None:
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in whitespace:
                    pos += 1
                if pos < len(buf) or eof:
                    return
                more()

        def fail(msg: str, at: int) -> IngestError:
            return _bad_json(url, msg, base + at, path, size)

        more()
        skip_whitespace()
        if pos >= len(buf) or buf[pos] != "[":
            # Not an array (or not JSON): let the whole-file parser name the problem.
            _describe_non_array(path, url, size, buf[pos:pos + 1])
        pos += 1
        skip_whitespace()
        count = 0
        if pos < len(buf) and buf[pos] == "]":
            pos += 1
        else:
            while True:
                try:
                    value, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as exc:
                    # an element cut off by the end of the buffer: extend it and parse again
                    if not eof and (exc.pos >= len(buf) - 64 or exc.msg.startswith("Unterminated string")):
                        more()
                        continue
                    raise fail(exc.msg, exc.pos) from None
                except ValueError as exc:  # NaN, Infinity (parse_constant)
                    raise IngestError(
                        f"source {url} is not valid JSON: it contains the non-standard constant {exc} "
                        "(NaN/Infinity are not allowed in JSON). hint: fix the source"
                    ) from None
                if end >= len(buf) and not eof:
                    more()  # a number or literal may go on in the next chunk
                    continue
                count += 1
                yield value
                pos = end
                skip_whitespace()
                if pos < len(buf) and buf[pos] == "]":
                    pos += 1
                    break
                if pos >= len(buf) or buf[pos] != ",":
                    raise fail("Expecting ',' delimiter", pos)
                pos += 1
                skip_whitespace()
        skip_whitespace()
        if pos < len(buf):
            raise fail("Extra data", pos)
        if count == 0:
            raise IngestError(
                f"source {url} has 0 records; refusing to replace the landed file with nothing. "
                "hint: check the source; the previously landed file was left unchanged"
            )


def _describe_non_array(path: str, url: str, size: int, first: str) -> None:
    """Raise the error for a source whose top level is not an array."""
    if size <= DESCRIBE_MAX_BYTES:
        with open(path, "rb") as f:
            decode_and_parse(f.read(), url)  # raises: not an array, or not JSON at all
    kinds = {"{": "object", '"': "string", "t": "boolean", "f": "boolean", "n": "null"}
    what = kinds.get(first, "number" if first in "-0123456789" and first else "")
    if not what:
        raise _bad_json(url, "Expecting value", 0, path, size)
    raise IngestError(
        f"top level of source {url} is a JSON {what}, but a JSON array of country objects "
        "is expected. hint: point --source_url at the file that holds the array itself"
    )


# ---------------------------------------------------------------------------------------------
# Record validation
# ---------------------------------------------------------------------------------------------


def record_problems(record: Any, code_re: Optional[Pattern[str]] = None) -> List[Tuple[str, str]]:
    """Why one record is unusable, as (code, message) pairs; an empty list: the record is valid.

    The code is for machines (``<check>:<field>``, e.g. ``missing:cca3``, ``type:population``,
    ``duplicate:cca3``; see the quarantine file's ``reason_codes``), the message for people.
    Unknown extra fields are fine and are kept as they are. ``code_re`` (from --code_pattern)
    replaces the ISO rule for cca3.
    """
    if not isinstance(record, dict):
        return [("type:record", f"record is a JSON {json_type_name(record)}, not an object")]
    problems: List[Tuple[str, str]] = []

    name = record.get("name")
    if "name" not in record:
        problems.append(("missing:name.common", "missing name.common"))
    elif not isinstance(name, dict):
        problems.append(("type:name", f"name is a JSON {json_type_name(name)}, not an object with name.common"))
    elif "common" not in name:
        problems.append(("missing:name.common", "missing name.common"))
    elif not isinstance(name["common"], str) or not name["common"].strip():
        problems.append(("invalid:name.common",
                         f"name.common is not a non-empty string (got {json.dumps(name['common'])})"))

    if "cca3" not in record:
        problems.append(("missing:cca3", "missing cca3"))
    else:
        cca3 = record["cca3"]
        if code_re is None:
            if not isinstance(cca3, str) or not _CCA3_RE.match(cca3):
                problems.append(("invalid:cca3", "cca3 is not a 3-letter uppercase code "
                                 f"(got {json.dumps(cca3, ensure_ascii=False)})"))
        elif not isinstance(cca3, str) or not code_re.fullmatch(cca3):
            problems.append(("invalid:cca3", f"cca3 does not match --code_pattern {code_re.pattern} "
                             f"(got {json.dumps(cca3, ensure_ascii=False)})"))

    if "continents" not in record:
        problems.append(("missing:continents", "missing continents"))
    else:
        continents = record["continents"]
        if not isinstance(continents, list):
            problems.append(("type:continents", f"continents is a JSON {json_type_name(continents)}, not a list"))
        elif not continents:
            problems.append(("invalid:continents", "continents is an empty list"))
        elif not all(isinstance(c, str) and c.strip() for c in continents):
            problems.append(("invalid:continents", "continents has an element that is not a non-empty string"))

    if "population" in record:
        population = record["population"]
        if isinstance(population, bool) or not isinstance(population, int):
            problems.append(("type:population", f"population is a JSON {json_type_name(population)}, not an integer"))
    if "area" in record:
        area = record["area"]
        if isinstance(area, bool) or not isinstance(area, (int, float)):
            problems.append(("type:area", f"area is a JSON {json_type_name(area)}, not a number"))
    return problems


def validate_record(record: Any) -> List[str]:
    """The messages of record_problems(): why one record is unusable (empty list: it is valid)."""
    return [message for _code, message in record_problems(record)]


class RecordSplitter:
    """Validate records one at a time, in source order, and hand each to `on_valid` or, as a
    quarantine entry, to `on_rejected`; count what it saw.

    A record whose cca3 was already loaded from an earlier record is a duplicate: the first
    valid occurrence is loaded, later ones are quarantined. Every element ends up in exactly
    one of the two, so received == loaded + quarantined.
    """

    def __init__(self, on_valid: Callable[[Any], None], on_rejected: Callable[[Dict[str, Any]], None],
                 code_re: Optional[Pattern[str]] = None):
        self.on_valid, self.on_rejected, self.code_re = on_valid, on_rejected, code_re
        self.received = self.loaded = self.quarantined = 0
        self.reasons: Dict[str, int] = {}
        self.examples: List[Dict[str, Any]] = []  # the first 3 quarantine entries
        self._loaded_at: Dict[str, int] = {}

    def add(self, record: Any) -> None:
        index = self.received
        self.received += 1
        problems = record_problems(record, self.code_re)
        cca3 = record.get("cca3") if isinstance(record, dict) else None
        if isinstance(cca3, str) and cca3 in self._loaded_at:
            problems.append(("duplicate:cca3",
                             f"duplicate cca3 {cca3} (already loaded from record_index {self._loaded_at[cca3]})"))
        if problems:
            entry = {
                "record_index": index,
                "cca3": cca3 if isinstance(cca3, str) else None,
                "reason_codes": [code for code, _message in problems],
                "reasons": [message for _code, message in problems],
                "record": record,
            }
            self.quarantined += 1
            for code in entry["reason_codes"]:
                self.reasons[code] = self.reasons.get(code, 0) + 1
            if len(self.examples) < 3:
                self.examples.append(entry)
            self.on_rejected(entry)
        else:
            self._loaded_at[cca3] = index
            self.loaded += 1
            self.on_valid(record)


def split_records(records: Iterable[Any], code_re: Optional[Pattern[str]] = None
                  ) -> Tuple[List[Any], List[Dict[str, Any]]]:
    """Split the source array into (valid records, quarantine entries), both in source order
    (RecordSplitter, collected in lists)."""
    valid: List[Any] = []
    rejected: List[Dict[str, Any]] = []
    splitter = RecordSplitter(valid.append, rejected.append, code_re)
    for record in records:
        splitter.add(record)
    return valid, rejected


# ---------------------------------------------------------------------------------------------
# Write
# ---------------------------------------------------------------------------------------------

# Why NDJSON (one compact JSON object per line) and not the source's single array:
# Snowflake's COPY INTO ... FILE_FORMAT = (TYPE = JSON) loads one VARIANT row per top-level
# JSON value. With NDJSON every country becomes its own row, and no row comes near the 16 MB
# VARIANT size limit, however many countries there are; Snowflake can also split and stream a
# line-delimited file instead of parsing one giant document. Each record can be validated and
# quarantined on its own, and a bad line is reported by line number. The alternative would be
# to land the array as it is and COPY with STRIP_OUTER_ARRAY = TRUE; that works too, but it
# keeps the whole file as one document, so one malformed record spoils the whole file.


def to_ndjson(items: Iterable[Any]) -> bytes:
    """One compact JSON value per line, keys in their original order, newline-terminated."""
    return b"".join(ndjson_line(item) for item in items)


def ndjson_line(item: Any) -> bytes:
    return (json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def quarantine_key_for(prefix: str, run_id: str) -> str:
    return f"{prefix}{run_id}/{QUARANTINE_FILE_NAME}"


def _ascii_metadata(value: str) -> str:
    # S3 user metadata travels as HTTP headers: keep it ASCII.
    return urllib.parse.quote(value, safe=":/?#[]@!$&'()*+,;=%~-._")


def _s3_error(what: str, bucket: str, key: str, exc: Exception) -> IngestError:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return IngestError(
            f"S3 {what} to s3://{bucket}/{key} failed: {error.get('Code', 'Unknown')} "
            f"({error.get('Message', exc)}). hint: check that the bucket exists and that the job's "
            "IAM role may s3:PutObject on it"
        )
    return IngestError(
        f"S3 {what} to s3://{bucket}/{key} failed: {type(exc).__name__} ({exc}). hint: check "
        "the S3 endpoint (AWS_ENDPOINT_URL when set), network access and credentials"
    )


def put_ndjson(s3: Any, bucket: str, key: str, body: Any, metadata: Dict[str, str]) -> Optional[str]:
    """put_object the NDJSON body (bytes or a binary file); return its VersionId (None on an
    unversioned bucket)."""
    try:
        response = s3.put_object(
            Bucket=bucket,
            Key=key,
            Body=body,
            ContentType=NDJSON_CONTENT_TYPE,
            Metadata={name: _ascii_metadata(value) for name, value in metadata.items()},
        )
    except (ClientError, BotoCoreError) as exc:
        raise _s3_error("PutObject", bucket, key, exc) from exc
    return response.get("VersionId")


def upload_ndjson(s3: Any, bucket: str, key: str, path: str, metadata: Dict[str, str]) -> Optional[str]:
    """Upload the NDJSON file from disk: put_object up to MULTIPART_THRESHOLD_BYTES, else a
    multipart upload of MULTIPART_PART_BYTES parts (one part in memory at a time). Returns the
    VersionId. boto3's upload_file would stream too, but does not return the VersionId, which
    the landing report needs (a head_object afterwards could see a later writer's version)."""
    size = os.path.getsize(path)
    if size <= MULTIPART_THRESHOLD_BYTES:
        with open(path, "rb") as body:
            return put_ndjson(s3, bucket, key, body, metadata)
    upload_id = None
    try:
        upload_id = s3.create_multipart_upload(
            Bucket=bucket, Key=key, ContentType=NDJSON_CONTENT_TYPE,
            Metadata={name: _ascii_metadata(value) for name, value in metadata.items()},
        )["UploadId"]
        parts = []
        with open(path, "rb") as f:
            number = 1
            while True:
                data = f.read(MULTIPART_PART_BYTES)
                if not data:
                    break
                etag = s3.upload_part(Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number,
                                      Body=data)["ETag"]
                parts.append({"ETag": etag, "PartNumber": number})
                number += 1
                del data
        response = s3.complete_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id,
                                                MultipartUpload={"Parts": parts})
    except (ClientError, BotoCoreError) as exc:
        if upload_id is not None:
            try:
                s3.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
            except (ClientError, BotoCoreError):
                pass  # the bucket's lifecycle rule (or an operator) cleans up incomplete uploads
        raise _s3_error("multipart upload", bucket, key, exc) from exc
    return response.get("VersionId")


def reason_counts(rejected: Iterable[Dict[str, Any]]) -> Dict[str, int]:
    """How many quarantined records failed each check, e.g. {"missing:cca3": 2}."""
    counts: Dict[str, int] = {}
    for entry in rejected:
        for code in entry["reason_codes"]:
            counts[code] = counts.get(code, 0) + 1
    return dict(sorted(counts.items()))


def script_sha256() -> str:
    """sha256 of this script's own source, recorded on the landed file: a landed file is only
    "the same" as a fresh ingest if the same source went through the same validation code."""
    try:
        with open(__file__, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except (NameError, OSError):  # pragma: no cover - e.g. run from a string
        return "unknown"


def write_quarantine(s3: Any, options: Dict[str, Any], path: str, count: int,
                     metadata: Dict[str, str]) -> str:
    """Write the rejected records (the NDJSON file at `path`), each with its reasons, under the
    run's own quarantine key."""
    quarantine_key = quarantine_key_for(options["quarantine_prefix"], options["run_id"])
    upload_ndjson(s3, options["bucket"], quarantine_key, path, {**metadata, "records": str(count)})
    log(f"quarantined {count} record(s) to s3://{options['bucket']}/{quarantine_key}")
    return quarantine_key


def write_outputs(
    s3: Any,
    options: Dict[str, Any],
    valid_path: str,
    loaded: int,
    rejected_path: str,
    quarantined: int,
    source_sha256: str,
) -> Tuple[Optional[str], Optional[str]]:
    """Write the quarantine file (if any) first, then the landed file, the run's commit point.

    Returns (version_id of the landed file, quarantine key or None).
    """
    metadata = _metadata(options, source_sha256)
    quarantine_key = write_quarantine(s3, options, rejected_path, quarantined, metadata) if quarantined else None
    version_id = upload_ndjson(s3, options["bucket"], options["key"], valid_path,
                               {**metadata, "records": str(loaded)})
    log(f"wrote {loaded} record(s) to s3://{options['bucket']}/{options['key']}")
    return version_id, quarantine_key


def _metadata(options: Dict[str, Any], source_sha256: str) -> Dict[str, str]:
    return {
        "source-sha256": source_sha256,
        "source-url": options["source_url"],
        "run-id": options["run_id"],
        "ingest-script-sha256": script_sha256(),
    }


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def run(argv: Sequence[str], s3_client: Any = None, progress: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Do the whole job and return the summary; raise IngestError on an expected failure.

    ``progress`` (if given) is filled in as the run goes, so that a failure can still report
    what is known: the stage it failed in, the source's size and sha256, the record counts.
    The source and the NDJSON files live in a temporary directory, removed at the end.
    """
    progress = {} if progress is None else progress
    options = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="countries-ingest-") as tmp:
        return _run(options, tmp, s3_client, progress)


def _run(options: Dict[str, Any], tmp: str, s3_client: Any, progress: Dict[str, Any]) -> Dict[str, Any]:
    url = options["source_url"]
    progress.update(run_id=options["run_id"], source_url=url, stage="download")
    log(f"run {options['run_id']}: fetching {url}")
    source_path = os.path.join(tmp, "source.json")
    with open(source_path, "w+b") as sink:
        fetch_to(url, sink, options["max_bytes"], options["timeout_seconds"], options["max_attempts"])
    source_bytes, source_sha256, bad_utf8 = hash_and_check_utf8(source_path)
    progress.update(source_bytes=source_bytes, source_sha256=source_sha256, stage="parse")
    log(f"fetched {source_bytes} bytes, sha256 {source_sha256}")
    if bad_utf8 is not None:
        offset, byte, reason = bad_utf8
        raise IngestError(
            f"source {url} is not valid UTF-8: byte 0x{byte:02x} at byte offset {offset} "
            f"({reason}). hint: the source must be UTF-8 encoded JSON; check that the URL "
            "serves the raw file and not a re-encoded copy"
        )

    # Parse, validate and write the NDJSON files in one streaming pass; S3 is touched only after
    # the whole file has parsed.
    valid_path, rejected_path = os.path.join(tmp, "valid.ndjson"), os.path.join(tmp, "rejected.ndjson")
    code_re = re.compile(options["code_pattern"]) if options["code_pattern"] else None
    with open(valid_path, "wb") as valid_file, open(rejected_path, "wb") as rejected_file:
        splitter = RecordSplitter(lambda r: valid_file.write(ndjson_line(r)),
                                  lambda e: rejected_file.write(ndjson_line(e)), code_re)
        for record in iter_json_array(source_path, url, source_bytes):
            splitter.add(record)
    os.remove(source_path)
    received, loaded, quarantined = splitter.received, splitter.loaded, splitter.quarantined
    reasons = dict(sorted(splitter.reasons.items()))
    progress.update(received=received, stage="validate")
    log(f"received {received} record(s): {loaded} valid, {quarantined} to quarantine")
    summary = {
        "event": "ingest_summary",
        "run_id": options["run_id"],
        "source_url": url,
        "source_bytes": source_bytes,
        "source_sha256": source_sha256,
        "received": received,
        "loaded": loaded,
        "quarantined": quarantined,
        "bucket": options["bucket"],
        "key": options["key"],
        "version_id": None,
        "quarantine_key": None,
        "unchanged": False,
        "quarantine_reasons": reasons,
    }
    if loaded and options["skip_if_sha256"] == source_sha256:
        # The caller saw this very source (same sha256, same script) in the landed file's metadata:
        # writing it again would only add an identical S3 version. Its quarantine, if any, is
        # under the run id that landed it (the landed file's run-id metadata).
        log(f"source unchanged (sha256 {source_sha256} is what the landed file holds): nothing written")
        summary["unchanged"] = True
        return summary

    # Only now, with everything validated, is S3 touched. boto3 takes the endpoint from
    # AWS_ENDPOINT_URL when that is set (a local emulator), else the real S3 endpoint.
    s3 = s3_client if s3_client is not None else boto3.client("s3")
    if not loaded:
        # Keep every record with its reasons, but never replace the landed file with nothing.
        progress["stage"] = "write"
        quarantine_key = write_quarantine(s3, options, rejected_path, quarantined, _metadata(options, source_sha256))
        progress.update(stage="validate", quarantined=quarantined, quarantine_key=quarantine_key,
                        quarantine_reasons=reasons)
        examples = "; ".join(
            f"record_index {entry['record_index']}: {', '.join(entry['reasons'])}" for entry in splitter.examples
        )
        raise IngestError(
            f"none of the {received} records in {url} is valid, so the landed file was not replaced "
            f"(first problems: {examples}); every record is in s3://{options['bucket']}/{quarantine_key} "
            "with its reasons. hint: the source's format may have changed; "
            "compare a record with the checks in validate_record()"
        )

    progress["stage"] = "write"
    summary["version_id"], summary["quarantine_key"] = write_outputs(
        s3, options, valid_path, loaded, rejected_path, quarantined, source_sha256)
    return summary


def failure_summary(error: str, progress: Dict[str, Any]) -> Dict[str, Any]:
    """The machine-readable twin of the ERROR line: what failed, where, and the counts known."""
    return {
        "event": "ingest_failed",
        "run_id": progress.get("run_id"),
        "source_url": progress.get("source_url"),
        "stage": progress.get("stage", "arguments"),
        "error": error,
        "source_bytes": progress.get("source_bytes"),
        "source_sha256": progress.get("source_sha256"),
        "received": progress.get("received"),  # None: the file could not be read as records
        "loaded": 0,
        "quarantined": progress.get("quarantined", 0),
        "quarantine_key": progress.get("quarantine_key"),
        "quarantine_reasons": progress.get("quarantine_reasons", {}),
    }


def main(argv: Optional[Sequence[str]] = None, s3_client: Any = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    progress: Dict[str, Any] = {}
    try:
        summary = run(argv, s3_client=s3_client, progress=progress)
    except IngestError as exc:
        print(f"ERROR: {exc}", file=sys.stderr, flush=True)
        print(json.dumps(failure_summary(str(exc), progress), ensure_ascii=False), flush=True)
        return 1
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
