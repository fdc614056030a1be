"""AWS Glue Python shell job: land the REST Countries JSON file in S3 as NDJSON.

Flow: download ``--source_url`` (https, http or s3) -> check size, UTF-8 and JSON -> validate each
country record -> write the valid records to ``s3://<bucket>/<key>`` and the rejected ones to
``s3://<bucket>/<quarantine_prefix><run_id>/rejected.ndjson``.

A Glue worker cannot read the caller's disk, so ``file://`` (and any other scheme) is refused: a
local file is uploaded to ``s3://<bucket>/incoming/`` and passed as an s3:// URL (the job role may
read ``incoming/*``). s3:// sources are read with the same boto3 client (the job role's
credentials) that writes the output. There is no local-vs-cloud switch in here: boto3 reads the
standard ``AWS_ENDPOINT_URL`` environment variable when it is set, so the very same script runs
against a local S3 emulator.

Job parameters (Glue passes ``--name value`` strings and adds its own, which are ignored):
  required  --source_url --bucket --key --quarantine_prefix
  optional  --max_bytes (104857600) --timeout_seconds (30) --max_attempts (4)
            --run_id (default: Glue's --JOB_RUN_ID, else "manual")
            --skip_if_sha256 (the source sha256 the landed file already holds: when the fresh
            download has that sha256, nothing is written and the summary says "unchanged")
            --code_pattern (a regular expression cca3 must match in full; default: the ISO 3166-1
            alpha-3 rule, exactly 3 uppercase letters; the benchmark's synthetic data passes its own)

Memory: the script streams. The download goes in chunks to a temporary file (the size cap is
checked before and while reading), the JSON is parsed one element at a time, each record is
validated and appended to a temporary NDJSON file, and that file is uploaded from disk by boto3's
transfer manager (multipart when large). What stays in memory is a buffer of about a megabyte, one
record, the upload parts in flight and the set of cca3 codes seen so far.

Outcome:
  success  exit 0 and exactly one JSON line on stdout, ``{"event": "ingest_summary", ...}``;
           progress and retry lines go to stderr.
  failure  exit 1, ``ERROR: <what, where, why, and a hint>`` on stderr (never a traceback) and one
           JSON line on stdout, ``{"event": "ingest_failed", "stage": ..., "error": ..., <counts>}``.
           A failure of the whole file (download, size, encoding, JSON, shape) writes nothing to
           S3; when no record at all is valid, only the quarantine file is written. Either way
           the previously landed file stays as it was.

Every quarantined record is one line ``{"record_index", "cca3", "reason_codes", "reasons",
"record"}``: ``reason_codes`` are machine-readable (``missing:cca3``, ``type:population``,
``duplicate:cca3``, ...), ``reasons`` say the same for people.
"""
from __future__ import annotations

import argparse
import codecs
import hashlib
import json
import os
import re
import sys
import tempfile
import time
import urllib.parse
from typing import Any, Callable, Dict, Iterator, List, Optional, Pattern, Sequence, Tuple

import boto3
import urllib3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

# The only modules outside the standard library this script imports. All three are preloaded in
# Glue's Python shell 3.9 runtime without --additional-python-modules (a pip install on every
# run): boto3 and its botocore are in AWS's list of provided libraries
# (https://docs.aws.amazon.com/glue/latest/dg/add-job-python.html#python-shell-supported-library),
# and urllib3 is a hard dependency of botocore, so wherever boto3 imports, urllib3 does too.
GLUE_PROVIDED_MODULES = ("boto3", "botocore", "urllib3")

REQUIRED_ARGS = ("source_url", "bucket", "key", "quarantine_prefix")
OPTIONAL_ARG_DEFAULTS = {"max_bytes": "104857600", "timeout_seconds": "30", "max_attempts": "4",
                         "run_id": "", "skip_if_sha256": "", "code_pattern": "", "JOB_RUN_ID": ""}
# Retry backoff: RETRY_BASE_DELAY_SECONDS * 2 ** (retry - 1) -> 0.5 s, 1 s, 2 s, ... unless the
# server's Retry-After says otherwise (capped). Module constants so that tests can change them.
RETRY_BASE_DELAY_SECONDS = 0.5
MAX_RETRY_AFTER_SECONDS = 60.0
READ_CHUNK_BYTES = 64 * 1024
PARSE_CHUNK_CHARS = 1024 * 1024  # the sliding parse buffer grows by this much at a time
# The transfer manager uses put_object up to this size, above it a multipart upload of parts this
# big, at most UPLOAD_THREADS parts in flight (Python shell's 1/16 DPU has 1 GB of memory).
MULTIPART_THRESHOLD_BYTES = 64 * 1024 * 1024
MULTIPART_PART_BYTES = 16 * 1024 * 1024
UPLOAD_THREADS = 4
USER_AGENT = "countries-ingest-glue-job/2.0 (+urllib3)"
NDJSON_CONTENT_TYPE = "application/x-ndjson"
QUARANTINE_FILE_NAME = "rejected.ndjson"
SOURCE_PREFIX = "incoming/"  # where local files are uploaded for the job (the role may read it)
_CCA3_RE = re.compile(r"\A[A-Z]{3}\Z")


class IngestError(Exception):
    """An expected failure of the whole run. main() prints it as ``ERROR: <message>``, exits 1."""


class _Retryable(Exception):
    """A transient download failure (HTTP 5xx/429, network error, timeout): worth another try."""

    def __init__(self, message: str, retry_after: Optional[float] = None):
        super().__init__(message)
        self.retry_after = retry_after


def log(message: str) -> None:
    """Progress and retry lines go to stderr; stdout is reserved for the one summary line."""
    print(message, file=sys.stderr, flush=True)


# --- Arguments -----------------------------------------------------------------------------------

class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print usage and exit 2
        raise IngestError(f"{message}; hint: pass job arguments as '--name value'")


def _number(name: str, raw: str, kind: Callable[[str], Any], minimum: float) -> Any:
    try:
        value = kind(raw)
    except ValueError:
        value = None
    if value is None or value != value or value < minimum or value == float("inf"):
        raise IngestError(f"argument --{name} must be a {kind.__name__} >= {minimum:g}, got {raw!r}")
    return value


def parse_args(argv: Sequence[str]) -> Dict[str, Any]:
    """The job arguments from ``argv`` (``argv[0]`` is the script). Glue's own arguments (--JOB_ID,
    --job-bookmark-option, --scriptLocation, ...) are left over by parse_known_args and ignored;
    --JOB_RUN_ID is the default run_id. The last occurrence of an argument wins."""
    parser = _ArgumentParser(prog="countries_ingest.py", add_help=False, allow_abbrev=False)
    for name in REQUIRED_ARGS:
        parser.add_argument(f"--{name}")
    for name, default in OPTIONAL_ARG_DEFAULTS.items():
        parser.add_argument(f"--{name}", default=default)
    args = vars(parser.parse_known_args(list(argv[1:]))[0])
    missing = [f"--{name}" for name in REQUIRED_ARGS if args[name] is None]
    if missing:
        raise IngestError(
            f"missing required job argument(s): {', '.join(missing)}; hint: set them as job parameters"
            " (DefaultArguments) of the Glue job, or pass them on the command line as '--name value'")
    for name in REQUIRED_ARGS:
        if not args[name]:
            raise IngestError(f"argument --{name} must not be empty")
    run_id = args["run_id"] or args["JOB_RUN_ID"] or "manual"
    if "/" in run_id:
        raise IngestError(f"argument --run_id must not contain '/', got {run_id!r}")
    if args["code_pattern"]:
        try:
            re.compile(args["code_pattern"])
        except re.error as exc:
            raise IngestError(f"argument --code_pattern is not a valid regular expression ({exc}): "
                              f"{args['code_pattern']!r}") from exc
    return {
        **{name: args[name] for name in REQUIRED_ARGS},
        "max_bytes": _number("max_bytes", args["max_bytes"], int, 1),
        "timeout_seconds": _number("timeout_seconds", args["timeout_seconds"], float, 0.001),
        "max_attempts": _number("max_attempts", args["max_attempts"], int, 1),
        "run_id": run_id,
        "skip_if_sha256": args["skip_if_sha256"].strip().lower(),
        "code_pattern": args["code_pattern"],
    }


# --- Download ------------------------------------------------------------------------------------

def _too_large(url: str, max_bytes: int, detail: str) -> IngestError:
    return IngestError(
        f"source {url} is larger than max_bytes={max_bytes} ({detail}); stopped reading. "
        "hint: check that the URL returns the countries file and not something else; if the "
        "source legitimately grew, raise --max_bytes")


def copy_capped(read: Callable[[int], bytes], url: str, max_bytes: int, sink: Any) -> int:
    """Copy read(n) chunks to `sink`; give up as soon as more than max_bytes have arrived."""
    total = 0
    while True:
        chunk = read(min(READ_CHUNK_BYTES, max_bytes + 1 - total))  # never more than 1 byte past
        if not chunk:
            return total
        total += len(chunk)
        if total > max_bytes:
            raise _too_large(url, max_bytes, f"more than {max_bytes} bytes read")
        sink.write(chunk)


def _retry_after(value: Optional[str]) -> Optional[float]:
    """Seconds from a Retry-After header (a number or an HTTP date), None when absent or garbled."""
    try:
        return urllib3.Retry().parse_retry_after(value) if value else None
    except urllib3.exceptions.InvalidHeader:
        return None


def _http_once(pool: Any, url: str, max_bytes: int, timeout: float, sink: Any) -> None:
    exceptions = urllib3.exceptions
    try:
        # urllib3 follows redirects but retries nothing itself: fetch_to() retries whole downloads,
        # which also covers a body cut off mid-stream, and logs each retry.
        response = pool.request("GET", url, preload_content=False, timeout=urllib3.Timeout(timeout),
                                retries=urllib3.Retry(total=5, connect=0, read=0, status=0, redirect=5,
                                      respect_retry_after_header=False),
                                headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
        try:
            status = f"HTTP {response.status} {response.reason or ''}".rstrip()
            if response.status == 429 or 500 <= response.status <= 599:
                raise _Retryable(status, _retry_after(response.headers.get("Retry-After")))
            if response.status >= 300:
                raise IngestError(
                    f"{status} from {url} (not retried: a client error does not go away by retrying). "
                    "hint: check --source_url (for GitHub use the raw.githubusercontent.com URL of the "
                    "file) and that the file still exists there")
            declared = response.headers.get("Content-Length", "").strip()
            if declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(url, max_bytes, f"it declares Content-Length {int(declared)}")
            copy_capped(response.read, url, max_bytes, sink)
        finally:
            response.release_conn()
    except exceptions.MaxRetryError as exc:
        reason = exc.reason
        # NewConnectionError (refused, no such host) subclasses ConnectTimeoutError, for history's sake
        if isinstance(reason, exceptions.TimeoutError) and not isinstance(reason, exceptions.NewConnectionError):
            raise _Retryable(f"timed out after {timeout:g}s") from exc
        raise _Retryable(f"network error ({type(reason).__name__}: {reason})") from exc
    except exceptions.TimeoutError as exc:  # while streaming the body
        raise _Retryable(f"timed out after {timeout:g}s") from exc
    except (exceptions.HTTPError, OSError) as exc:
        raise _Retryable(f"connection failed ({type(exc).__name__}: {exc})") from exc


def _s3_download(s3: Any, url: str, bucket: str, max_bytes: int, sink: Any) -> None:
    """Read s3://<source bucket>/<key> with the job's own S3 client (the job role's credentials);
    botocore retries transient S3 errors itself."""
    src_bucket, _, key = url[len("s3://"):].partition("/")
    if not src_bucket or not key:
        raise IngestError(f"--source_url {url} does not name an object; hint: pass "
                          f"s3://<bucket>/<key>, e.g. s3://{bucket}/{SOURCE_PREFIX}countries.json")
    where = f"(bucket {src_bucket}, key {key})"
    try:
        obj = s3.get_object(Bucket=src_bucket, Key=key)
        try:
            if obj["ContentLength"] > max_bytes:  # S3's size, before reading a byte
                raise _too_large(url, max_bytes, f"its ContentLength is {obj['ContentLength']}")
            copy_capped(obj["Body"].read, url, max_bytes, sink)
        finally:
            obj["Body"].close()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        hints = {
            "NoSuchKey": f"there is no such object; upload the file to s3://{src_bucket}/{SOURCE_PREFIX}"
                         " first and pass its exact key",
            "NoSuchBucket": f"the bucket does not exist; upload the file to s3://{bucket}/{SOURCE_PREFIX}"
                            f" and pass s3://{bucket}/{SOURCE_PREFIX}<file>",
            "AccessDenied": f"the Glue job's role may read only s3://{bucket}/{SOURCE_PREFIX}*; upload the "
                            f"file there and pass s3://{bucket}/{SOURCE_PREFIX}<file> (S3 also answers "
                            "AccessDenied for a missing key when the role may not list the bucket)",
        }
        raise IngestError(f"cannot read source {url} {where}: {code} ({error.get('Message', exc)}). hint: "
                          + hints.get(code, "check the object and the job role's s3:GetObject permission"))
    except (BotoCoreError, urllib3.exceptions.HTTPError, OSError) as exc:
        raise IngestError(f"could not download {url} {where}: {type(exc).__name__} ({exc}). hint: check "
                          "the S3 endpoint (AWS_ENDPOINT_URL when set), network access and credentials")


def fetch_to(url: str, sink: Any, options: Dict[str, Any], s3: Any,
             sleep: Callable[[float], None] = time.sleep) -> int:
    """Download url into the binary file `sink`: s3:// with boto3, http(s) with urllib3, retrying
    transient HTTP failures with exponential backoff (each attempt starts the file again)."""
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    bucket, max_bytes, max_attempts = options["bucket"], options["max_bytes"], options["max_attempts"]
    name = os.path.basename(urllib.parse.urlsplit(url).path) or "countries.json"
    fix = f"upload the file to s3://{bucket}/{SOURCE_PREFIX} and pass s3://{bucket}/{SOURCE_PREFIX}{name}"
    if scheme == "file":
        raise IngestError(f"--source_url {url} is a local file, but a Glue worker cannot read the "
                          f"caller's disk. hint: {fix} as --source_url")
    if scheme not in ("http", "https", "s3"):
        raise IngestError(f"unsupported --source_url {url!r}: the scheme must be http, https or s3 "
                          f"(hint: for a local file, {fix})")
    if scheme == "s3":
        _s3_download(s3, url, bucket, max_bytes, sink)
        return sink.tell()
    pool = urllib3.PoolManager()
    for attempt in range(1, max_attempts + 1):
        sink.seek(0)
        sink.truncate()
        try:
            _http_once(pool, url, max_bytes, options["timeout_seconds"], sink)
            return sink.tell()
        except _Retryable as exc:
            if attempt >= max_attempts:
                raise IngestError(
                    f"could not download {url}: {exc} (gave up after {max_attempts} attempt(s)). "
                    "hint: the source may be down or slow; re-run the job later, or raise "
                    "--timeout_seconds / --max_attempts") from exc
            delay = RETRY_BASE_DELAY_SECONDS * 2 ** (attempt - 1)
            if exc.retry_after is not None:  # the server says when to come back
                delay = min(exc.retry_after, MAX_RETRY_AFTER_SECONDS)
            log(f"retry {attempt}/{max_attempts - 1}: {exc} from {url}; sleeping {delay:g}s")
            sleep(delay)
    raise AssertionError("unreachable")  # pragma: no cover


# --- Check and parse -----------------------------------------------------------------------------

_JSON_TYPE_NAMES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number",
                    float: "number", type(None): "null"}


def json_type_name(value: Any) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def _reject_constant(name: str) -> Any:
    raise ValueError(name)  # NaN/Infinity are not JSON (Snowflake rejects them); Python accepts them


def hash_and_check_utf8(path: str) -> Tuple[int, str, Optional[Tuple[int, int, str]]]:
    """One pass over the file: (size, sha256, the first invalid UTF-8 sequence as (byte offset,
    byte, reason) or None). An incremental decoder carries a character split between chunks."""
    digest, decoder = hashlib.sha256(), codecs.getincrementaldecoder("utf-8")("strict")
    size, problem = 0, None
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(PARSE_CHUNK_CHARS), b""):
            digest.update(chunk)
            if problem is None:
                pending = len(decoder.getstate()[0])  # bytes of an unfinished character, before chunk
                try:
                    decoder.decode(chunk)
                except UnicodeDecodeError as exc:
                    problem = (size - pending + exc.start, exc.object[exc.start], exc.reason)
            size += len(chunk)
    if problem is None:
        pending = len(decoder.getstate()[0])
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError as exc:
            problem = (size - pending + exc.start, exc.object[exc.start], exc.reason)
    return size, digest.hexdigest(), problem


def _bad_json(url: str, msg: str, pos: int, path: str, size: int) -> IngestError:
    lineno, colno, byte_offset = _locate(path, pos)
    return IngestError(
        f"source {url} is not valid JSON: {msg} at line {lineno}, column {colno} "
        f"(char {pos}, byte {byte_offset}) of {size} bytes. hint: a truncated or "
        "interrupted download, or a URL that returns an HTML page instead of the raw file")


def _locate(path: str, pos: int) -> Tuple[int, int, int]:
    """(line, column, byte offset) of char `pos` in the UTF-8 file, as json.JSONDecodeError counts."""
    lines, last_newline, seen, byte_offset = 0, -1, 0, 0
    with open(path, encoding="utf-8", newline="") as f:
        while seen < pos:
            chunk = f.read(min(PARSE_CHUNK_CHARS, pos - seen))
            if not chunk:
                break
            lines += chunk.count("\n")
            if "\n" in chunk:
                last_newline = seen + chunk.rfind("\n")
            byte_offset += len(chunk.encode("utf-8"))
            seen += len(chunk)
    return lines + 1, pos - last_newline, byte_offset


def iter_json_array(path: str, url: str, size: int) -> Iterator[Any]:
    """The elements of the top-level JSON array in the (valid UTF-8) file, one at a time, with
    json.loads()'s error messages and positions; any other top level is described in the error.

    Why a hand-rolled streaming parser: Glue's Python shell 3.9 preloads no streaming JSON parser
    (ijson and the like are not in AWS's list of provided libraries, see GLUE_PROVIDED_MODULES),
    and --additional-python-modules would add a pip install to every run. So each element is
    parsed with the standard library's json.JSONDecoder.raw_decode over a sliding buffer of about
    PARSE_CHUNK_CHARS; an element that runs past the end of the buffer is parsed again after the
    buffer grew. Memory is one buffer plus one element, whatever the size of the file. The
    brackets, commas (and, for a top-level object, keys and colons) between elements are read here.
    """
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    with open(path, encoding="utf-8", newline="") as f:
        buf, base, pos, eof = "", 0, 0, False  # buf[pos] is char base + pos of the file

        def more() -> None:
            nonlocal buf, base, pos, eof
            if pos > PARSE_CHUNK_CHARS:  # slide: drop what was consumed
                buf, base, pos = buf[pos:], base + pos, 0
            chunk = f.read(PARSE_CHUNK_CHARS)
            eof = len(chunk) < PARSE_CHUNK_CHARS
            buf += chunk

        def at(chars: str) -> bool:  # skip whitespace; is the next character one of `chars`?
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in " \t\n\r":
                    pos += 1
                if pos < len(buf) or eof:
                    return pos < len(buf) and buf[pos] in chars
                more()

        def fail(msg: str, where: int) -> IngestError:
            return _bad_json(url, msg, base + where, path, size)

        def value() -> Any:
            nonlocal pos
            while True:
                try:
                    item, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as exc:
                    # an element cut off by the end of the buffer: extend it and parse again
                    if not eof and (exc.pos >= len(buf) - 64 or exc.msg.startswith("Unterminated string")):
                        more()
                        continue
                    raise fail(exc.msg, exc.pos) from None
                except ValueError as exc:  # NaN, Infinity (parse_constant)
                    raise IngestError(
                        f"source {url} is not valid JSON: it contains the non-standard constant {exc} "
                        "(NaN/Infinity are not allowed in JSON). hint: fix the source") from None
                except RecursionError:
                    lineno, colno, _ = _locate(path, base + pos)
                    raise IngestError(
                        f"source {url} nests JSON arrays/objects too deeply to parse: the value at line "
                        f"{lineno}, column {colno} (char {base + pos}) goes deeper than about "
                        f"{sys.getrecursionlimit()} levels. hint: a country record is a few levels deep; "
                        "check that the URL serves the countries file") from None
                if end >= len(buf) and not eof:
                    more()  # a number or literal may go on in the next chunk
                    continue
                pos = end
                return item

        more()
        top, count, keys = None, 0, []
        if at("[{"):
            close = "]" if buf[pos] == "[" else "}"
            pos += 1
            if at(close):
                pos += 1
            else:
                while True:
                    if close == "]":
                        item = value()
                        count += 1
                        yield item
                    else:  # an object: read it through (it is reported below), keep its first keys
                        if not at('"'):
                            raise fail("Expecting property name enclosed in double quotes", pos)
                        key = value()
                        if not at(":"):
                            raise fail("Expecting ':' delimiter", pos)
                        pos += 1
                        at("")
                        value()
                        count += 1
                        if len(keys) < 5:
                            keys.append(key)
                    if at(close):
                        pos += 1
                        break
                    if not at(","):
                        raise fail("Expecting ',' delimiter", pos)
                    pos += 1
                    at("")
            top = [] if close == "]" else {}
        else:
            at("")
            top = value()  # a scalar, or not JSON at all (then raw_decode names the problem)
        at("")
        if pos < len(buf):
            raise fail("Extra data", pos)
        if not isinstance(top, list):
            what = json_type_name(top)
            if isinstance(top, dict):
                what = f"object with {count} key(s) ({', '.join(keys)})" if count else "empty object"
            raise IngestError(
                f"top level of source {url} is a JSON {what}, but a JSON array of country objects "
                "is expected. hint: point --source_url at the file that holds the array itself")
        if count == 0:
            raise IngestError(
                f"source {url} has 0 records; refusing to replace the landed file with nothing. "
                "hint: check the source; the previously landed file was left unchanged")


# --- Record validation ---------------------------------------------------------------------------

def record_problems(record: Any, code_re: Optional[Pattern[str]] = None) -> List[Tuple[str, str]]:
    """Why one record is unusable, as (code, message) pairs; an empty list: the record is valid.

    The code is for machines (``<check>:<field>``, e.g. ``missing:cca3``, ``type:population``),
    the message for people. Unknown extra fields are fine and are kept as they are. ``code_re``
    (from --code_pattern) replaces the ISO rule for cca3.
    """
    if not isinstance(record, dict):
        return [("type:record", f"record is a JSON {json_type_name(record)}, not an object")]
    problems: List[Tuple[str, str]] = []
    name = record.get("name")
    if "name" not in record or (isinstance(name, dict) and "common" not in name):
        problems.append(("missing:name.common", "missing name.common"))
    elif not isinstance(name, dict):
        problems.append(("type:name", f"name is a JSON {json_type_name(name)}, not an object with name.common"))
    elif not isinstance(name["common"], str) or not name["common"].strip():
        problems.append(("invalid:name.common",
                         f"name.common is not a non-empty string (got {json.dumps(name['common'])})"))
    if "cca3" not in record:
        problems.append(("missing:cca3", "missing cca3"))
    else:
        cca3, shown = record["cca3"], json.dumps(record["cca3"], ensure_ascii=False)
        if code_re is None and not (isinstance(cca3, str) and _CCA3_RE.match(cca3)):
            problems.append(("invalid:cca3", f"cca3 is not a 3-letter uppercase code (got {shown})"))
        elif code_re is not None and not (isinstance(cca3, str) and code_re.fullmatch(cca3)):
            problems.append(("invalid:cca3", f"cca3 does not match --code_pattern {code_re.pattern} (got {shown})"))
    continents = record.get("continents")
    if "continents" not in record:
        problems.append(("missing:continents", "missing continents"))
    elif not isinstance(continents, list):
        problems.append(("type:continents", f"continents is a JSON {json_type_name(continents)}, not a list"))
    elif not continents:
        problems.append(("invalid:continents", "continents is an empty list"))
    elif not all(isinstance(c, str) and c.strip() for c in continents):
        problems.append(("invalid:continents", "continents has an element that is not a non-empty string"))
    for field, kinds, wanted in (("population", (int,), "an integer"), ("area", (int, float), "a number")):
        if field in record and (isinstance(record[field], bool) or not isinstance(record[field], kinds)):
            problems.append((f"type:{field}", f"{field} is a JSON {json_type_name(record[field])}, not {wanted}"))
    return problems


class RecordSplitter:
    """Validate records one at a time, in source order, and hand each to `on_valid` or, as a
    quarantine entry, to `on_rejected`; count what it saw.

    A record whose cca3 was already loaded from an earlier record is a duplicate: the first valid
    occurrence is loaded, later ones are quarantined. received == loaded + quarantined.
    """

    def __init__(self, on_valid: Callable[[Any], Any], on_rejected: Callable[[Dict[str, Any]], Any],
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
        if not problems:
            self._loaded_at[cca3] = index
            self.loaded += 1
            self.on_valid(record)
            return
        entry = {"record_index": index, "cca3": cca3 if isinstance(cca3, str) else None,
                 "reason_codes": [code for code, _ in problems], "reasons": [message for _, message in problems],
                 "record": record}
        self.quarantined += 1
        for code in entry["reason_codes"]:
            self.reasons[code] = self.reasons.get(code, 0) + 1
        if len(self.examples) < 3:
            self.examples.append(entry)
        self.on_rejected(entry)


# --- Write ---------------------------------------------------------------------------------------

# Why NDJSON (one compact JSON object per line) and not the source's single array:
# Snowflake's COPY INTO ... FILE_FORMAT = (TYPE = JSON) loads one VARIANT row per top-level JSON
# value. With NDJSON every country becomes its own row, and no row comes near the 16 MB VARIANT
# size limit, however many countries there are; Snowflake can also split and stream a
# line-delimited file instead of parsing one giant document. Each record is validated and
# quarantined on its own, and a bad line is reported by line number. The alternative, landing the
# array as it is and COPY with STRIP_OUTER_ARRAY = TRUE, keeps the whole file as one document.

def ndjson_line(item: Any) -> bytes:
    return (json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def _transfer_config() -> TransferConfig:
    sizes = dict(multipart_threshold=MULTIPART_THRESHOLD_BYTES, multipart_chunksize=MULTIPART_PART_BYTES,
                 max_concurrency=UPLOAD_THREADS)
    try:  # the classic manager calls the client, so the after-call hook below sees its responses
        return TransferConfig(preferred_transfer_client="classic", **sizes)
    except TypeError:  # boto3 before 1.33 has only the classic transfer manager
        return TransferConfig(**sizes)


def upload_ndjson(s3: Any, bucket: str, key: str, path: str, metadata: Dict[str, str]) -> Optional[str]:
    """Upload the NDJSON file from disk with boto3's transfer manager; return its VersionId (None
    on an unversioned bucket).

    upload_file returns nothing, and a head_object afterwards could see a later writer's version.
    So the VersionId is taken from this upload's own PutObject / CompleteMultipartUpload response,
    with botocore's after-call event on this client: race-free, whoever writes the key next.
    """
    version_ids: List[Optional[str]] = []

    def remember(parsed: Dict[str, Any], **_: Any) -> None:
        version_ids.append(parsed.get("VersionId"))

    events = [f"after-call.s3.{op}" for op in ("PutObject", "CompleteMultipartUpload")]
    for event in events:
        s3.meta.events.register(event, remember, unique_id=f"countries-ingest-{event}")
    extra = {"ContentType": NDJSON_CONTENT_TYPE,  # user metadata travels as HTTP headers: keep it ASCII
             "Metadata": {k: urllib.parse.quote(v, safe=":/?#[]@!$&'()*+,;=%~-._") for k, v in metadata.items()}}
    try:
        s3.upload_file(path, bucket, key, ExtraArgs=extra, Config=_transfer_config())
    except (ClientError, BotoCoreError, S3UploadFailedError) as exc:
        what = "PutObject" if os.path.getsize(path) <= MULTIPART_THRESHOLD_BYTES else "multipart upload"
        cause = exc.__context__ if isinstance(exc.__context__, ClientError) else exc  # S3UploadFailedError wraps it
        if isinstance(cause, ClientError):
            error = cause.response.get("Error", {})
            raise IngestError(f"S3 {what} to s3://{bucket}/{key} failed: {error.get('Code', 'Unknown')} "
                              f"({error.get('Message', cause)}). hint: check that the bucket exists and that "
                              "the job's IAM role may s3:PutObject on it") from exc
        raise IngestError(f"S3 {what} to s3://{bucket}/{key} failed: {type(exc).__name__} ({exc}). hint: check "
                          "the S3 endpoint (AWS_ENDPOINT_URL when set), network access and credentials") from exc
    finally:
        for event in events:
            s3.meta.events.unregister(event, unique_id=f"countries-ingest-{event}")
    return version_ids[-1] if version_ids else None


def script_sha256() -> str:
    """sha256 of this script's own source, recorded on the landed file: a landed file is only
    "the same" as a fresh ingest if the same source went through the same validation code."""
    try:
        with open(__file__, "rb") as f:
            return hashlib.sha256(f.read()).hexdigest()
    except (NameError, OSError):  # pragma: no cover - e.g. run from a string
        return "unknown"


def write_quarantine(s3: Any, options: Dict[str, Any], path: str, count: int, metadata: Dict[str, str]) -> str:
    """Write the rejected records, each with its reasons, under the run's own quarantine key."""
    key = f"{options['quarantine_prefix']}{options['run_id']}/{QUARANTINE_FILE_NAME}"
    upload_ndjson(s3, options["bucket"], key, path, {**metadata, "records": str(count)})
    log(f"quarantined {count} record(s) to s3://{options['bucket']}/{key}")
    return key


# --- Main ----------------------------------------------------------------------------------------

def run(argv: Sequence[str], s3_client: Any = None, progress: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Do the whole job and return the summary; raise IngestError on an expected failure.

    ``progress`` (if given) is filled in as the run goes, so that a failure can still report what
    is known: the stage it failed in, the source's size and sha256, the record counts. The source
    and the NDJSON files live in a temporary directory, removed at the end.
    """
    progress = {} if progress is None else progress
    options = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="countries-ingest-") as tmp:
        return _run(options, tmp, s3_client, progress)


def _run(options: Dict[str, Any], tmp: str, s3_client: Any, progress: Dict[str, Any]) -> Dict[str, Any]:
    url, bucket = options["source_url"], options["bucket"]
    progress.update(run_id=options["run_id"], source_url=url, stage="download")
    # One client reads s3:// sources and writes the output. boto3 takes the endpoint from
    # AWS_ENDPOINT_URL when that is set (a local emulator), else the real S3 endpoint.
    s3 = s3_client if s3_client is not None else boto3.client("s3")
    log(f"run {options['run_id']}: fetching {url}")
    source_path = os.path.join(tmp, "source.json")
    with open(source_path, "w+b") as sink:
        fetch_to(url, sink, options, s3)
    source_bytes, source_sha256, bad_utf8 = hash_and_check_utf8(source_path)
    progress.update(source_bytes=source_bytes, source_sha256=source_sha256, stage="parse")
    log(f"fetched {source_bytes} bytes, sha256 {source_sha256}")
    if bad_utf8 is not None:
        offset, byte, reason = bad_utf8
        raise IngestError(
            f"source {url} is not valid UTF-8: byte 0x{byte:02x} at byte offset {offset} ({reason}). "
            "hint: the source must be UTF-8 encoded JSON; check that the URL serves the raw file and "
            "not a re-encoded copy")

    # Parse, validate and write the NDJSON files in one streaming pass; S3 is written only after
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
    summary = {"event": "ingest_summary", "run_id": options["run_id"], "source_url": url,
               "source_bytes": source_bytes, "source_sha256": source_sha256, "received": received,
               "loaded": loaded, "quarantined": quarantined, "bucket": bucket, "key": options["key"],
               "version_id": None, "quarantine_key": None, "unchanged": False, "quarantine_reasons": reasons}
    if loaded and options["skip_if_sha256"] == source_sha256:
        # The caller saw this very source (same sha256, same script) in the landed file's metadata:
        # writing it again would only add an identical S3 version. Its quarantine, if any, is under
        # the run id that landed it (the landed file's run-id metadata).
        log(f"source unchanged (sha256 {source_sha256} is what the landed file holds): nothing written")
        summary["unchanged"] = True
        return summary

    progress["stage"] = "write"
    metadata = {"source-sha256": source_sha256, "source-url": url, "run-id": options["run_id"],
                "ingest-script-sha256": script_sha256()}
    if quarantined:  # first: the landed file is the run's commit point
        summary["quarantine_key"] = write_quarantine(s3, options, rejected_path, quarantined, metadata)
    if not loaded:
        # Keep every record with its reasons, but never replace the landed file with nothing.
        progress.update(stage="validate", quarantined=quarantined, quarantine_key=summary["quarantine_key"],
                        quarantine_reasons=reasons)
        examples = "; ".join(f"record_index {e['record_index']}: {', '.join(e['reasons'])}" for e in splitter.examples)
        raise IngestError(
            f"none of the {received} records in {url} is valid, so the landed file was not replaced "
            f"(first problems: {examples}); every record is in s3://{bucket}/{summary['quarantine_key']} "
            "with its reasons. hint: the source's format may have changed; "
            "compare a record with the checks in record_problems()")
    summary["version_id"] = upload_ndjson(s3, bucket, options["key"], valid_path, {**metadata, "records": str(loaded)})
    log(f"wrote {loaded} record(s) to s3://{bucket}/{options['key']}")
    return summary


def failure_summary(error: str, progress: Dict[str, Any]) -> Dict[str, Any]:
    """The machine-readable twin of the ERROR line: what failed, where, and the counts known."""
    return {"event": "ingest_failed", "run_id": progress.get("run_id"), "source_url": progress.get("source_url"),
            "stage": progress.get("stage", "arguments"), "error": error,
            "source_bytes": progress.get("source_bytes"), "source_sha256": progress.get("source_sha256"),
            "received": progress.get("received"),  # None: the file could not be read as records
            "loaded": 0, "quarantined": progress.get("quarantined", 0),
            "quarantine_key": progress.get("quarantine_key"),
            "quarantine_reasons": progress.get("quarantine_reasons", {})}


def main(argv: Optional[Sequence[str]] = None, s3_client: Any = None) -> int:
    argv = list(sys.argv if argv is None else argv)
    progress: Dict[str, Any] = {}
    try:
        summary = run(argv, s3_client=s3_client, progress=progress)
    except Exception as exc:  # noqa: BLE001 - every failure is one ERROR line, never a traceback
        if isinstance(exc, IngestError):
            message = str(exc)
        else:  # a bug or an unforeseen failure: say what and where, for the bug report
            frame = exc.__traceback__
            while frame is not None and frame.tb_next is not None:
                frame = frame.tb_next
            where = f" at {os.path.basename(frame.tb_frame.f_code.co_filename)}:{frame.tb_lineno}" if frame else ""
            message = (f"unexpected {type(exc).__name__} during stage {progress.get('stage', 'arguments')}"
                       f"{where}: {exc}. hint: this is a bug in the ingest job; report it with this line")
        print(f"ERROR: {message}", file=sys.stderr, flush=True)
        print(json.dumps(failure_summary(message, progress), ensure_ascii=False), flush=True)
        return 1
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
