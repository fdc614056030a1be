"""AWS Glue Python shell job: land the REST Countries JSON file in S3 as NDJSON.

Download ``--source_url`` (https, http or s3: a Glue worker cannot read the caller's disk, so a local
file goes to ``s3://<bucket>/incoming/`` first and file:// is refused) to a temporary file -> check
size, UTF-8 and JSON, one element at a time -> validate each country -> upload the valid records to
``s3://<bucket>/<key>`` and the rejected ones, with their reasons, to
``s3://<bucket>/<quarantine_prefix><run_id>/rejected.ndjson``. boto3 takes the endpoint from
``AWS_ENDPOINT_URL`` when set, so the same script runs against a local emulator, with no switch here.

An unchanged source writes nothing. --skip_if_sha256 says the landed file holds a source with that sha256;
if its metadata also has the source's ETag / Last-Modified, the download asks with If-None-Match /
If-Modified-Since, and a 304 Not Modified is "unchanged" without downloading, with the counts the metadata
keeps (RFC 9110 section 13.1; S3: https://docs.aws.amazon.com/AmazonS3/latest/API/API_GetObject.html).

Success: exit 0 and one JSON line ``{"event": "ingest_summary", ...}`` on stdout (progress and
``retry n/m`` lines on stderr). Failure: exit 1, ``ERROR: <what, where, why, hint>`` on stderr (never a
traceback) and one ``{"event": "ingest_failed", ...}`` line on stdout; a failure of the whole file
writes nothing, and when no record is valid only the quarantine is written.

The JSON array is read here, not by a streaming parser such as ijson: Glue's Python shell preloads none,
--additional-python-modules would pip install one at the start of every run
(https://docs.aws.amazon.com/glue/latest/dg/add-job-python.html#create-python-extra-library), and ijson
words its errors its own way, without json.loads's line, column and char. So each element is parsed by
json.JSONDecoder.raw_decode over a sliding buffer; only the brackets, commas, keys and colons between are
read by hand.
"""

from __future__ import annotations

import argparse
import codecs
import collections
import hashlib
import json
import os
import re
import sys
import tempfile
import time
import traceback
import urllib.parse
from typing import Any, Callable, Dict, List, Optional, Tuple
from re import Pattern
from collections.abc import Iterator, Sequence

import boto3
import urllib3
from boto3.exceptions import S3UploadFailedError
from boto3.s3.transfer import TransferConfig
from botocore.exceptions import BotoCoreError, ClientError

# The only modules from outside the standard library, all preloaded in Glue's Python shell 3.9 (no
# --additional-python-modules, which would pip install on every run): boto3 and botocore are in AWS's
# list https://docs.aws.amazon.com/glue/latest/dg/add-job-python.html#python-shell-supported-library
# and urllib3 is a hard dependency of botocore, so it is there wherever boto3 is.
GLUE_PROVIDED_MODULES = ("boto3", "botocore", "urllib3")

REQUIRED_ARGS = ("source_url", "bucket", "key", "quarantine_prefix")
RETRY_BASE_DELAY_SECONDS = 0.5  # backoff 0.5 s, 1 s, 2 s, ... unless Retry-After says otherwise
MAX_RETRY_AFTER_SECONDS = 60.0
READ_CHUNK_BYTES = 64 * 1024
PARSE_CHUNK_CHARS = 1024 * 1024  # the sliding parse buffer grows by this much at a time
# Transfer manager: put_object up to the threshold, else parts of this size, UPLOAD_THREADS in flight
# (Python shell's 1/16 DPU has 1 GB of memory).
MULTIPART_THRESHOLD_BYTES = 64 * 1024 * 1024
MULTIPART_PART_BYTES = 16 * 1024 * 1024
UPLOAD_THREADS = 4
USER_AGENT = "countries-ingest-glue-job/2.0 (+urllib3)"
ISO_CCA3 = re.compile("[A-Z]{3}")
JSON_TYPES = {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number"}
WHITESPACE = re.compile(r"[ \t\n\r]*")  # JSON's
# landed-file metadata name: (the source's response header, the request header that sends it back)
VALIDATORS = {"source-etag": ("ETag", "If-None-Match"), "source-last-modified": ("Last-Modified", "If-Modified-Since")}
SUMMARY_FIELDS = "event run_id source_url source_bytes source_sha256 received loaded quarantined bucket key version_id quarantine_key unchanged quarantine_reasons"
FAILURE_FIELDS = "event run_id source_url stage error source_bytes source_sha256 received loaded quarantined quarantine_key quarantine_reasons"

# Every ERROR message (str.format fields): what, where, why, and a hint. Tests and docs/runbook.md quote
# them. incoming/ is where a local file goes for the job: its role may read only that prefix.
MESSAGES = {
    "usage": "{message}; hint: pass job arguments as '--name value'",
    "number": "argument --{name} must be a {kind} >= {minimum:g}, got {raw!r}",
    "missing": "missing required job argument(s): {names}; hint: set them as job parameters (DefaultArguments) of the Glue job, or pass them on the command line as '--name value'",
    "empty": "argument --{name} must not be empty",
    "run_id": "argument --run_id must not contain '/', got {run_id!r}",
    "pattern": "argument --code_pattern is not a valid regular expression ({exc}): {pattern!r}",
    "file": "--source_url {url} is a local file, but a Glue worker cannot read the caller's disk. hint: upload the file to s3://{bucket}/incoming/ and pass s3://{bucket}/incoming/{name} as --source_url",
    "scheme": "unsupported --source_url {url!r}: the scheme must be http, https or s3 (hint: for a local file, upload the file to s3://{bucket}/incoming/ and pass s3://{bucket}/incoming/{name})",
    "too_large": "source {url} is larger than max_bytes={max_bytes} ({detail}); stopped reading. hint: check that the URL returns the countries file and not something else; if the source legitimately grew, raise --max_bytes",
    "http": "{status} from {url} (not retried: a client error does not go away by retrying). hint: check --source_url (for GitHub use the raw.githubusercontent.com URL of the file) and that the file still exists there",
    "gave_up": "could not download {url}: {exc} (gave up after {attempts} attempt(s)). hint: the source may be down or slow; re-run the job later, or raise --timeout_seconds / --max_attempts",
    "s3_url": "--source_url {url} does not name an object; hint: pass s3://<bucket>/<key>, e.g. s3://{bucket}/incoming/countries.json",
    "s3_read": "cannot read source {url} (bucket {src}, key {key}): {code} ({message}). hint: {hint}",
    "s3_read:NoSuchKey": "there is no such object; upload the file to s3://{src}/incoming/ first and pass its exact key",
    "s3_read:NoSuchBucket": "the bucket does not exist; upload the file to s3://{bucket}/incoming/ and pass s3://{bucket}/incoming/<file>",
    "s3_read:AccessDenied": "the Glue job's role may read only s3://{bucket}/incoming/*; upload the file there and pass s3://{bucket}/incoming/<file> (S3 also answers AccessDenied for a missing key when the role may not list the bucket)",
    "s3_read:other": "check the object and the job role's s3:GetObject permission",
    "s3_down": "could not download {url} (bucket {src}, key {key}): {code} ({message}). hint: check the S3 endpoint (AWS_ENDPOINT_URL when set), network access and credentials",
    "utf8": "source {url} is not valid UTF-8: byte 0x{byte:02x} at byte offset {offset} ({reason}). hint: the source must be UTF-8 encoded JSON; check that the URL serves the raw file and not a re-encoded copy",
    "json": "source {url} is not valid JSON: {msg} at line {line}, column {column} (char {pos}, byte {byte}) of {size} bytes. hint: a truncated or interrupted download, or a URL that returns an HTML page instead of the raw file",
    "constant": "source {url} is not valid JSON: it contains the non-standard constant {name} (NaN/Infinity are not allowed in JSON). hint: fix the source",
    "too_deep": "source {url} nests JSON arrays/objects too deeply to parse: {where} goes deeper than about {limit} levels. hint: a country record is a few levels deep; check that the URL serves the countries file",
    "top_level": "top level of source {url} is a JSON {what}, but a JSON array of country objects is expected. hint: point --source_url at the file that holds the array itself",
    "no_records": "source {url} has 0 records; refusing to replace the landed file with nothing. hint: check the source; the previously landed file was left unchanged",
    "none_valid": "none of the {received} records in {url} is valid, so the landed file was not replaced (first problems: {examples}); every record is in s3://{bucket}/{key} with its reasons. hint: the source's format may have changed; compare a record with the checks in record_problems()",
    "s3_write": "S3 {what} to s3://{bucket}/{key} failed: {code} ({message}). hint: check that the bucket exists and that the job's IAM role may s3:PutObject on it",
    "s3_write_down": "S3 {what} to s3://{bucket}/{key} failed: {code} ({message}). hint: check the S3 endpoint (AWS_ENDPOINT_URL when set), network access and credentials",
    "unexpected": "unexpected {kind} during stage {stage} at {where}: {exc}. hint: this is a bug in the ingest job; report it with this line",
}


class IngestError(Exception):
    """An expected failure of the whole run. main() prints it as ``ERROR: <message>``, exits 1."""


def fail(message: str, /, **fields: Any) -> IngestError:
    return IngestError(MESSAGES[message].format(**fields))


class _Retryable(Exception):
    """A transient download failure (HTTP 5xx/429, network error, timeout): worth another try."""

    def __init__(self, message: str, retry_after: Optional[float] = None):
        super().__init__(message)
        self.retry_after = retry_after


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # stdout is for the one summary line


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print usage and exit 2
        raise fail("usage", message=message)


def _number(name: str, kind: Callable[[str], Any], minimum: float) -> Callable[[str], Any]:
    def convert(raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            value = None
        if value is None or not minimum <= value < float("inf"):  # NaN compares False
            raise fail("number", name=name, kind=kind.__name__, minimum=minimum, raw=raw)
        return value

    return convert


def parse_args(argv: Sequence[str]) -> Dict[str, Any]:
    """The job arguments from ``argv`` (``argv[0]`` is the script); the last occurrence wins. Glue's
    own (--JOB_ID, --job-bookmark-option, --scriptLocation, ...) are left over and ignored.
    --skip_if_sha256: the sha256 of the source the landed file holds (an unchanged source writes nothing).
    --code_pattern: a regex cca3 must match in full instead of ISO 3166-1 alpha-3 (for synthetic data)."""
    parser = _ArgumentParser(prog="countries_ingest.py", add_help=False, allow_abbrev=False)
    for name in REQUIRED_ARGS:
        parser.add_argument(f"--{name}")
    parser.add_argument("--max_bytes", default="104857600", type=_number("max_bytes", int, 1))
    parser.add_argument("--timeout_seconds", default="30", type=_number("timeout_seconds", float, 0.001))
    parser.add_argument("--max_attempts", default="4", type=_number("max_attempts", int, 1))
    for name in ("run_id", "skip_if_sha256", "code_pattern", "JOB_RUN_ID"):
        parser.add_argument(f"--{name}", default="")
    args = vars(parser.parse_known_args(list(argv[1:]))[0])
    missing = [f"--{name}" for name in REQUIRED_ARGS if args[name] is None]
    if missing:
        raise fail("missing", names=", ".join(missing))
    for name in REQUIRED_ARGS:
        if not args[name]:
            raise fail("empty", name=name)
    job_run_id = args.pop("JOB_RUN_ID")
    args["run_id"] = args["run_id"] or job_run_id or "manual"
    if "/" in args["run_id"]:
        raise fail("run_id", run_id=args["run_id"])
    try:
        re.compile(args["code_pattern"])
    except re.error as exc:
        raise fail("pattern", exc=exc, pattern=args["code_pattern"]) from exc
    args["skip_if_sha256"] = args["skip_if_sha256"].strip().lower()
    return args


# --- Download: (size, sha256, the first invalid UTF-8 or None, the source's validators); None: 304 ----


def copy_capped(read: Callable[[int], bytes], url: str, max_bytes: int, sink: Any) -> Tuple[int, str, Any]:
    """Copy read(n) chunks to `sink`, giving up as soon as more than max_bytes have arrived; return the
    size, sha256 and first invalid UTF-8 sequence (offset, byte, reason) or None, all in this one pass."""
    digest, decoder, total, bad_utf8 = hashlib.sha256(), codecs.getincrementaldecoder("utf-8")(), 0, None
    while True:
        chunk = read(min(READ_CHUNK_BYTES, max_bytes + 1 - total))  # never more than 1 byte past
        if total + len(chunk) > max_bytes:
            raise fail("too_large", url=url, max_bytes=max_bytes, detail=f"more than {max_bytes} bytes read")
        if bad_utf8 is None:
            pending = len(decoder.getstate()[0])  # bytes of an unfinished character
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                bad_utf8 = {"offset": total - pending + exc.start, "byte": exc.object[exc.start], "reason": exc.reason}
        if not chunk:
            return total, digest.hexdigest(), bad_utf8
        digest.update(chunk)
        sink.write(chunk)
        total += len(chunk)


def _http_once(url: str, max_bytes: int, timeout: float, sink: Any, conditions: Dict[str, str]) -> Any:
    errors, pool = urllib3.exceptions, urllib3.PoolManager()  # a fresh connection per attempt
    try:
        # urllib3 follows redirects but retries nothing: fetch_to() retries whole downloads (which
        # also covers a body cut off mid-stream) and says so on stderr. A body shorter than its
        # Content-Length is an error (urllib3 1.26, Glue's, does not check that by default).
        retries = urllib3.Retry(total=5, connect=0, read=0, status=0, redirect=5, respect_retry_after_header=False)
        headers = {"User-Agent": USER_AGENT, "Accept": "application/json", **conditions}
        options = {"timeout": timeout, "retries": retries, "preload_content": False, "enforce_content_length": True}
        response = pool.request("GET", url, headers=headers, **options)
        try:
            status = f"HTTP {response.status} {response.reason or ''}".rstrip()
            if response.status == 304 and conditions:
                return None  # Not Modified
            if response.status == 429 or 500 <= response.status <= 599:
                try:  # seconds or an HTTP date; none, or a garbled one, leaves the backoff
                    after = urllib3.Retry().get_retry_after(response)
                except errors.InvalidHeader:
                    after = None
                raise _Retryable(status, after)
            if response.status >= 300:
                raise fail("http", status=status, url=url)
            declared = response.headers.get("Content-Length", "").strip()
            if declared.isdigit() and int(declared) > max_bytes:
                raise fail("too_large", url=url, max_bytes=max_bytes, detail=f"it declares Content-Length {declared}")
            validators = {name: response.headers[h] for name, (h, _) in VALIDATORS.items() if response.headers.get(h)}
            return (*copy_capped(response.read, url, max_bytes, sink), validators)
        finally:
            pool.clear()  # closes the connection, whatever was left unread
    except errors.MaxRetryError as exc:
        # NewConnectionError (refused, unknown host) subclasses ConnectTimeoutError, for history's sake
        reason = exc.reason
        if isinstance(reason, errors.TimeoutError) and not isinstance(reason, errors.NewConnectionError):
            raise _Retryable(f"timed out after {timeout:g}s") from exc
        raise _Retryable(f"network error ({type(reason).__name__}: {reason})") from exc
    except errors.TimeoutError as exc:  # while streaming the body
        raise _Retryable(f"timed out after {timeout:g}s") from exc
    except (errors.HTTPError, OSError) as exc:
        raise _Retryable(f"connection failed ({type(exc).__name__}: {exc})") from exc


def _s3_error(exc: ClientError) -> Dict[str, Any]:
    error = exc.response.get("Error", {})
    return {"code": error.get("Code", "Unknown"), "message": error.get("Message", exc)}


def _s3_download(s3: Any, url: str, bucket: str, max_bytes: int, sink: Any, etag: Optional[str]) -> Any:
    """get_object with the job's client (If-None-Match: `etag`); botocore retries transient S3 errors itself."""
    src, _, key = url[len("s3://") :].partition("/")  # a key is taken as it is, '?' and '#' too
    if not src or not key:
        raise fail("s3_url", url=url, bucket=bucket)
    try:
        obj = s3.get_object(Bucket=src, Key=key, **({"IfNoneMatch": etag} if etag else {}))
        try:
            if obj["ContentLength"] > max_bytes:  # before reading a byte
                detail = f"its ContentLength is {obj['ContentLength']}"
                raise fail("too_large", url=url, max_bytes=max_bytes, detail=detail)
            return (*copy_capped(obj["Body"].read, url, max_bytes, sink), {"source-etag": obj["ETag"]})
        finally:
            obj["Body"].close()
    except ClientError as exc:
        error = _s3_error(exc)
        if error["code"] == "304" and etag:  # Not Modified
            return None
        hint = MESSAGES.get(f"s3_read:{error['code']}", MESSAGES["s3_read:other"]).format(src=src, bucket=bucket)
        raise fail("s3_read", url=url, src=src, key=key, hint=hint, **error)
    except (BotoCoreError, urllib3.exceptions.HTTPError, OSError) as exc:
        raise fail("s3_down", url=url, src=src, key=key, code=type(exc).__name__, message=exc)


def fetch_to(
    url: str, sink: Any, options: Dict[str, Any], s3: Any, sleep: Any = time.sleep, conditions: Any = None
) -> Any:
    """Download url into the binary file `sink`: s3:// with boto3; http(s) with urllib3, retrying
    transient failures with exponential backoff (each attempt starts the file again). With `conditions`
    (If-None-Match / If-Modified-Since headers) it may return None: 304 Not Modified."""
    parts, bucket, attempts = urllib.parse.urlsplit(url), options["bucket"], options["max_attempts"]
    conditions = conditions or {}
    scheme, name = parts.scheme.lower(), os.path.basename(parts.path) or "countries.json"
    if scheme not in ("http", "https", "s3"):
        raise fail("file" if scheme == "file" else "scheme", url=url, bucket=bucket, name=name)
    if scheme == "s3":
        return _s3_download(s3, url, bucket, options["max_bytes"], sink, conditions.get("If-None-Match"))
    for attempt in range(1, attempts + 1):
        sink.seek(0)
        sink.truncate()
        try:
            return _http_once(url, options["max_bytes"], options["timeout_seconds"], sink, conditions)
        except _Retryable as exc:
            if attempt >= attempts:
                raise fail("gave_up", url=url, exc=exc, attempts=attempts) from exc
            delay = RETRY_BASE_DELAY_SECONDS * 2 ** (attempt - 1)
            if exc.retry_after is not None:  # the server said when to come back
                delay = min(exc.retry_after, MAX_RETRY_AFTER_SECONDS)
            log(f"retry {attempt}/{attempts - 1}: {exc} from {url}; sleeping {delay:g}s")
            sleep(delay)


def landed_source(s3: Any, options: Dict[str, Any], metadata: Dict[str, str]) -> Tuple[Dict[str, str], Dict[str, str]]:
    """The landed file's metadata and the conditional request headers from its validators, if it holds the
    --skip_if_sha256 source from this URL, made by this script; else ({}, {}). HeadObject needs only
    s3:GetObject on the landed key, which the job's role has (helpers/iam.py glue_role_policy)."""
    try:
        landed = s3.head_object(Bucket=options["bucket"], Key=options["key"])["Metadata"]
    except (ClientError, BotoCoreError) as exc:
        log(f"no conditional request: the landed file's metadata could not be read ({exc})")
        return {}, {}
    expected = {**_ascii(metadata), "source-sha256": options["skip_if_sha256"]}
    if any(landed.get(k) != v for k, v in expected.items() if k != "run-id") or "counts" not in landed:
        return {}, {}
    return landed, {header: urllib.parse.unquote(landed[n]) for n, (_, header) in VALIDATORS.items() if n in landed}


# --- Parse ---------------------------------------------------------------------------------------


def json_type_name(value: Any) -> str:
    return "null" if value is None else JSON_TYPES.get(type(value), type(value).__name__)


def _reject_constant(name: str) -> Any:
    raise ValueError(name)  # NaN/Infinity are not JSON (Snowflake rejects them); Python accepts them


def _too_deep(url: str, where: str) -> IngestError:
    # Python's json recurses once per level; past the recursion limit it raises RecursionError, whether
    # parsing or writing a record back out. Both are this one clean error, never a traceback.
    return fail("too_deep", url=url, where=where, limit=sys.getrecursionlimit())


def _locate(path: str, pos: int) -> Tuple[int, int, int]:
    """(line, column, byte offset) of char `pos` in the UTF-8 file, as json.JSONDecodeError counts."""
    line, last_newline, seen, offset = 1, -1, 0, 0
    with open(path, encoding="utf-8", newline="") as f:
        while seen < pos:
            chunk = f.read(min(PARSE_CHUNK_CHARS, pos - seen))
            if not chunk:
                break
            line, offset = line + chunk.count("\n"), offset + len(chunk.encode("utf-8"))
            last_newline = seen + chunk.rfind("\n") if "\n" in chunk else last_newline
            seen += len(chunk)
    return line, pos - last_newline, offset


def iter_json_array(path: str, url: str, size: int) -> Iterator[Any]:
    """The elements of the top-level JSON array in the (valid UTF-8) file, one at a time, with json.loads()'s
    messages and positions. Memory: the buffer and one element. Any other top level is one element too,
    parsed whole to describe it (an error anyway, and at most --max_bytes)."""
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    with open(path, encoding="utf-8", newline="") as f:
        buf, base, pos, eof = "", 0, 0, False  # buf[pos] is char base + pos of the file

        def peek(extend: bool = False) -> str:  # the next character after whitespace ("" at the end)
            nonlocal buf, base, pos, eof
            while True:
                pos = WHITESPACE.match(buf, pos).end()
                if (pos < len(buf) and not extend) or eof:
                    return buf[pos : pos + 1]
                if pos > PARSE_CHUNK_CHARS:  # slide: drop what was consumed
                    buf, base, pos = buf[pos:], base + pos, 0
                wanted = max(PARSE_CHUNK_CHARS, len(buf) - pos)  # a long element doubles it: parsed O(n) times
                chunk = f.read(wanted)
                buf, eof, extend = buf + chunk, len(chunk) < wanted, False

        def bad(msg: str) -> IngestError:
            line, column, byte = _locate(path, base + pos)
            return fail("json", url=url, msg=msg, line=line, column=column, pos=base + pos, byte=byte, size=size)

        def value() -> Any:
            nonlocal pos
            peek()
            while True:
                try:
                    item, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as exc:
                    # an error at the end of the buffer may only be the buffer's end: extend, parse again
                    if eof or not (exc.pos >= len(buf) - 64 or exc.msg.startswith("Unterminated string")):
                        pos = exc.pos
                        raise bad(exc.msg) from None
                except ValueError as exc:  # NaN, Infinity (parse_constant)
                    raise fail("constant", url=url, name=exc) from None
                except RecursionError:
                    line, column, _ = _locate(path, base + pos)
                    raise _too_deep(url, f"the value at line {line}, column {column} (char {base + pos})") from None
                else:  # a number ending near the buffer's end may go on in the next chunk ("1.5" "e3")
                    if eof or end < len(buf) - 64:
                        pos = end
                        return item
                peek(extend=True)

        array, count = peek() == "[", 0
        top = None if array else value()
        pos += array
        while array and not (count == 0 and peek() == "]"):
            yield value()
            count += 1
            after = peek()
            if after == "]":
                break
            if after != ",":
                raise bad("Expecting ',' delimiter")
            pos += 1
        pos += array
        if peek():
            raise bad("Extra data")
        if not array:
            what = json_type_name(top)
            if isinstance(top, dict):
                what = f"object with {len(top)} key(s) ({', '.join(list(top)[:5])})" if top else "empty object"
            raise fail("top_level", url=url, what=what)
        if count == 0:
            raise fail("no_records", url=url)


# --- Validate ------------------------------------------------------------------------------------


def record_problems(record: Any, code_re: Optional[Pattern[str]] = None) -> List[Tuple[str, str]]:
    """Why one record is unusable, as (code, message) pairs (empty: valid). Codes are for machines
    (``missing:cca3``, ``type:population``, ...), messages for people. Extra fields are kept as they
    are; ``code_re`` (--code_pattern) replaces the ISO rule for cca3."""
    if not isinstance(record, dict):
        return [("type:record", f"record is a JSON {json_type_name(record)}, not an object")]
    problems, name = [], record.get("name")
    if "name" not in record or (isinstance(name, dict) and "common" not in name):
        problems.append(("missing:name.common", "missing name.common"))
    elif not isinstance(name, dict):
        problems.append(("type:name", f"name is a JSON {json_type_name(name)}, not an object with name.common"))
    elif not isinstance(name["common"], str) or not name["common"].strip():
        got = json.dumps(name["common"])
        problems.append(("invalid:name.common", f"name.common is not a non-empty string (got {got})"))
    cca3 = record.get("cca3")
    if "cca3" not in record:
        problems.append(("missing:cca3", "missing cca3"))
    elif not (isinstance(cca3, str) and (code_re or ISO_CCA3).fullmatch(cca3)):
        rule = f"does not match --code_pattern {code_re.pattern}" if code_re else "is not a 3-letter uppercase code"
        problems.append(("invalid:cca3", f"cca3 {rule} (got {json.dumps(cca3, ensure_ascii=False)})"))
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
    """Validate records in source order and hand each to `on_valid` or, as a quarantine entry, to
    `on_rejected`. A cca3 already loaded from an earlier record is a duplicate (the first valid one
    is loaded). received == loaded + quarantined."""

    def __init__(self, on_valid: Callable[[Any], Any], on_rejected: Callable[[Any], Any], code_re: Any = None):
        self.on_valid, self.on_rejected, self.code_re = on_valid, on_rejected, code_re
        self.received = self.loaded = self.quarantined = 0
        self.reasons: Dict[str, int] = collections.Counter()
        self.examples: List[Dict[str, Any]] = []  # the first 3 quarantine entries
        self._loaded_at: Dict[str, int] = {}

    def add(self, record: Any) -> None:
        index, self.received = self.received, self.received + 1
        problems = record_problems(record, self.code_re)
        cca3 = record.get("cca3") if isinstance(record, dict) else None
        cca3 = cca3 if isinstance(cca3, str) else None
        if cca3 in self._loaded_at:
            first = self._loaded_at[cca3]
            problems.append(("duplicate:cca3", f"duplicate cca3 {cca3} (already loaded from record_index {first})"))
        if not problems:
            self._loaded_at[cca3], self.loaded = index, self.loaded + 1
            return self.on_valid(record)
        codes, reasons = [code for code, _ in problems], [message for _, message in problems]
        entry = {"record_index": index, "cca3": cca3, "reason_codes": codes, "reasons": reasons, "record": record}
        self.quarantined += 1
        self.reasons.update(codes)
        self.examples += [entry] if len(self.examples) < 3 else []
        self.on_rejected(entry)


# --- Write ---------------------------------------------------------------------------------------

# Why NDJSON and not the source's array: Snowflake's COPY INTO ... FILE_FORMAT = (TYPE = JSON) loads one
# VARIANT row per top-level JSON value, so every country is its own row and no row nears the 16 MB
# VARIANT limit, and Snowflake can split a line-delimited file. Each record is validated and quarantined
# on its own. Landing the array with STRIP_OUTER_ARRAY = TRUE would keep the file one document.


def ndjson_line(item: Any) -> bytes:
    # compact, UTF-8 kept as it is; no cycle check: a record parsed from JSON cannot contain itself
    return (json.dumps(item, ensure_ascii=False, separators=(",", ":"), check_circular=False) + "\n").encode()


def _ascii(metadata: Dict[str, str]) -> Dict[str, str]:
    # S3 metadata travel as HTTP headers, so ASCII only: a non-ASCII source URL is percent-encoded
    return {k: urllib.parse.quote(v, safe=":/?#[]@!$&'()*+,;=%~-._{}\"") for k, v in metadata.items()}


def upload_ndjson(s3: Any, bucket: str, key: str, path: str, metadata: Dict[str, str]) -> Optional[str]:
    """Upload the file with boto3's transfer manager; return the VersionId (None: unversioned bucket).
    upload_file returns nothing, and a head_object afterwards could see a later writer's version, so the
    VersionId comes from this upload's own PutObject / CompleteMultipartUpload response, caught by
    botocore's after-call event on this client: race-free, whoever writes the key next."""
    versions: List[Optional[str]] = []
    events = [f"after-call.s3.{op}" for op in ("PutObject", "CompleteMultipartUpload")]
    for event in events:
        s3.meta.events.register(event, lambda parsed, **_: versions.append(parsed.get("VersionId")), unique_id=event)
    sizes = {"multipart_threshold": MULTIPART_THRESHOLD_BYTES, "multipart_chunksize": MULTIPART_PART_BYTES}
    try:  # the classic manager calls this client (so the event fires); boto3 < 1.33 has no other
        config = TransferConfig(max_concurrency=UPLOAD_THREADS, preferred_transfer_client="classic", **sizes)
    except TypeError:
        config = TransferConfig(max_concurrency=UPLOAD_THREADS, **sizes)
    what = "PutObject" if os.path.getsize(path) <= MULTIPART_THRESHOLD_BYTES else "multipart upload"
    try:
        extra = {"ContentType": "application/x-ndjson", "Metadata": _ascii(metadata)}
        s3.upload_file(path, bucket, key, ExtraArgs=extra, Config=config)
    except (ClientError, BotoCoreError, S3UploadFailedError) as exc:
        cause = exc.__context__ if isinstance(exc.__context__, ClientError) else exc  # S3UploadFailedError's
        if isinstance(cause, ClientError):
            raise fail("s3_write", what=what, bucket=bucket, key=key, **_s3_error(cause)) from exc
        raise fail("s3_write_down", what=what, bucket=bucket, key=key, code=type(exc).__name__, message=exc)
    finally:
        for event in events:
            s3.meta.events.unregister(event, unique_id=event)
    return versions[-1] if versions else None


# --- Main ----------------------------------------------------------------------------------------


def run(argv: Sequence[str], s3_client: Any, failure: Dict[str, Any]) -> Dict[str, Any]:
    """Do the whole job and return the summary; raise IngestError on an expected failure. `failure`
    (the ingest_failed line) is filled in as the run goes: stage, source size and sha256, counts."""
    options = parse_args(argv)
    url, bucket, key, run_id = options["source_url"], options["bucket"], options["key"], options["run_id"]
    failure.update(run_id=run_id, source_url=url, stage="download")
    s3 = s3_client if s3_client is not None else boto3.client("s3")  # reads s3:// sources, writes output
    with open(__file__, "rb") as script:  # a landed file is "the same" only if the same code made it
        script_sha256 = hashlib.sha256(script.read()).hexdigest()
    metadata = {"source-url": url, "run-id": run_id, "ingest-script-sha256": script_sha256}
    landed, conditions = landed_source(s3, options, metadata) if options["skip_if_sha256"] else ({}, {})
    log(f"run {run_id}: fetching {url}" + "".join(f"; {h}: {v}" for h, v in conditions.items()))
    summary = dict.fromkeys(SUMMARY_FIELDS.split())
    summary.update(event="ingest_summary", run_id=run_id, source_url=url, bucket=bucket, key=key, unchanged=False)
    with tempfile.TemporaryDirectory(prefix="countries-ingest-") as tmp:
        source, valid, rejected = (os.path.join(tmp, n) for n in ("source.json", "valid.nd", "rejected.nd"))
        with open(source, "w+b") as sink:
            downloaded = fetch_to(url, sink, options, s3, conditions=conditions)
        if downloaded is None:  # 304 Not Modified: the landed file's metadata has this very source's counts
            log(f"source unchanged (304 Not Modified to {' / '.join(conditions)}): nothing downloaded or written")
            return {**summary, **json.loads(urllib.parse.unquote(landed["counts"])), "unchanged": True}
        size, sha256, bad_utf8, validators = downloaded
        failure.update(source_bytes=size, source_sha256=sha256, stage="parse")
        log(f"fetched {size} bytes, sha256 {sha256}")
        if bad_utf8 is not None:
            raise fail("utf8", url=url, **bad_utf8)
        # One streaming pass parses, validates and writes the NDJSON files; S3 is written only after it.
        code_re = re.compile(options["code_pattern"]) if options["code_pattern"] else None
        with open(valid, "wb") as valid_file, open(rejected, "wb") as rejected_file:
            split = RecordSplitter(
                lambda r: valid_file.write(ndjson_line(r)), lambda e: rejected_file.write(ndjson_line(e)), code_re
            )
            for record in iter_json_array(source, url, size):
                try:
                    split.add(record)
                except RecursionError:  # parsed just below the limit, but too deep to check or write
                    raise _too_deep(url, f"record_index {split.received - 1}") from None
        os.remove(source)
        failure.update(received=split.received, stage="validate")
        log(f"received {split.received} record(s): {split.loaded} valid, {split.quarantined} to quarantine")
        counts = {"source_bytes": size, "source_sha256": sha256, "received": split.received, "loaded": split.loaded}
        counts.update(quarantined=split.quarantined, quarantine_reasons=dict(sorted(split.reasons.items())))
        summary.update(counts)
        if split.loaded and options["skip_if_sha256"] == sha256:
            # The landed file holds this very source (the caller checked its metadata): writing it again
            # would only add an identical version. Its quarantine is under the run that landed it.
            log(f"source unchanged (sha256 {sha256} is what the landed file holds): nothing written")
            return {**summary, "unchanged": True}
        failure["stage"] = "write"
        # what a later 304 Not Modified reports: the source's counts, and the validators to ask with
        metadata.update({"source-sha256": sha256, "counts": json.dumps(counts, separators=(",", ":")), **validators})
        quarantine_key = f"{options['quarantine_prefix']}{run_id}/rejected.ndjson" if split.quarantined else None
        if quarantine_key:  # first: the landed file is the run's commit point
            upload_ndjson(s3, bucket, quarantine_key, rejected, {**metadata, "records": str(split.quarantined)})
            log(f"quarantined {split.quarantined} record(s) to s3://{bucket}/{quarantine_key}")
        if not split.loaded:  # keep every record with its reasons, but never replace the landed file with nothing
            failure.update(stage="validate", quarantine_key=quarantine_key, **counts)
            examples = "; ".join(f"record_index {e['record_index']}: {', '.join(e['reasons'])}" for e in split.examples)
            raise fail(
                "none_valid", received=split.received, url=url, examples=examples, bucket=bucket, key=quarantine_key
            )
        version_id = upload_ndjson(s3, bucket, key, valid, {**metadata, "records": str(split.loaded)})
        log(f"wrote {split.loaded} record(s) to s3://{bucket}/{key}")
        return {**summary, "version_id": version_id, "quarantine_key": quarantine_key}


def main(argv: Sequence[str], s3_client: Any = None) -> int:
    # The machine-readable twin of the ERROR line, filled in by run() as far as it gets (received
    # None: the file could not be read as records).
    failure: Dict[str, Any] = dict.fromkeys(FAILURE_FIELDS.split())
    failure.update(event="ingest_failed", stage="arguments", loaded=0, quarantined=0, quarantine_reasons={})
    try:
        summary = run(argv, s3_client, failure)
    except Exception as exc:  # noqa: BLE001 - every failure is one ERROR line, never a traceback
        message, last = str(exc), traceback.extract_tb(exc.__traceback__, limit=-1)[0]
        if not isinstance(exc, IngestError):  # a bug or the unforeseen: say what and where
            where = f"{os.path.basename(last.filename)}:{last.lineno}"
            message = MESSAGES["unexpected"].format(
                kind=type(exc).__name__, stage=failure["stage"], where=where, exc=exc
            )
        print(f"ERROR: {message}", file=sys.stderr, flush=True)
        print(json.dumps({**failure, "error": message}, ensure_ascii=False), flush=True)
        return 1
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
