"""AWS Glue Python shell job: land the REST Countries JSON file in S3 as NDJSON.

Download ``--source_url`` (https, http or s3: a Glue worker cannot read the caller's disk, so a local
file goes to ``s3://<bucket>/incoming/`` first and file:// is refused) to a temporary file -> check
size, UTF-8 and JSON, one element at a time -> validate each country -> upload the valid records to
``s3://<bucket>/<key>`` and the rejected ones, with their reasons, to
``s3://<bucket>/<quarantine_prefix><run_id>/rejected.ndjson``. boto3 takes the endpoint from
``AWS_ENDPOINT_URL`` when set, so the same script runs against a local emulator, with no switch here.

Success: exit 0 and one JSON line ``{"event": "ingest_summary", ...}`` on stdout (progress and
``retry n/m`` lines on stderr). Failure: exit 1, ``ERROR: <what, where, why, hint>`` on stderr (never a
traceback) and one ``{"event": "ingest_failed", ...}`` line on stdout; a failure of the whole file
writes nothing, and when no record is valid only the quarantine is written.
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
SOURCE_PREFIX = "incoming/"  # where local files go for the job (its role may read only this prefix)
ISO_CCA3 = re.compile("[A-Z]{3}")


class IngestError(Exception):
    """An expected failure of the whole run. main() prints it as ``ERROR: <message>``, exits 1."""


class _Retryable(Exception):
    """A transient download failure (HTTP 5xx/429, network error, timeout): worth another try."""

    def __init__(self, message: str, retry_after: Optional[float] = None):
        super().__init__(message)
        self.retry_after = retry_after


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)  # stdout is for the one summary line


class _ArgumentParser(argparse.ArgumentParser):
    def error(self, message: str) -> Any:  # argparse would print usage and exit 2
        raise IngestError(f"{message}; hint: pass job arguments as '--name value'")


def _number(name: str, kind: Callable[[str], Any], minimum: float) -> Callable[[str], Any]:
    def convert(raw: str) -> Any:
        try:
            value = kind(raw)
        except ValueError:
            value = None
        if value is None or value != value or value < minimum or value == float("inf"):
            raise IngestError(f"argument --{name} must be a {kind.__name__} >= {minimum:g}, got {raw!r}")
        return value

    return convert


def parse_args(argv: Sequence[str]) -> Dict[str, Any]:
    """The job arguments from ``argv`` (``argv[0]`` is the script); the last occurrence wins. Glue's
    own (--JOB_ID, --job-bookmark-option, --scriptLocation, ...) are left over and ignored.
    --skip_if_sha256: write nothing when the download has this sha256. --code_pattern: a regex cca3
    must match in full instead of ISO 3166-1 alpha-3 (for synthetic data)."""
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
        raise IngestError(
            f"missing required job argument(s): {', '.join(missing)}; hint: set them as job "
            "parameters (DefaultArguments) of the Glue job, or pass them on the command line "
            "as '--name value'"
        )
    for name in REQUIRED_ARGS:
        if not args[name]:
            raise IngestError(f"argument --{name} must not be empty")
    job_run_id = args.pop("JOB_RUN_ID")
    args["run_id"] = args["run_id"] or job_run_id or "manual"
    if "/" in args["run_id"]:
        raise IngestError(f"argument --run_id must not contain '/', got {args['run_id']!r}")
    try:
        re.compile(args["code_pattern"])
    except re.error as exc:
        raise IngestError(
            f"argument --code_pattern is not a valid regular expression ({exc}): {args['code_pattern']!r}"
        ) from exc
    args["skip_if_sha256"] = args["skip_if_sha256"].strip().lower()
    return args


# --- Download ------------------------------------------------------------------------------------

Downloaded = Tuple[int, str, Optional[Tuple[int, int, str]]]  # size, sha256, bad UTF-8 (see copy_capped)


def _too_large(url: str, max_bytes: int, detail: str) -> IngestError:
    return IngestError(
        f"source {url} is larger than max_bytes={max_bytes} ({detail}); stopped reading. "
        "hint: check that the URL returns the countries file and not something else; if the "
        "source legitimately grew, raise --max_bytes"
    )


def copy_capped(read: Callable[[int], bytes], url: str, max_bytes: int, sink: Any) -> Downloaded:
    """Copy read(n) chunks to `sink`, giving up as soon as more than max_bytes have arrived; return the
    size, sha256 and first invalid UTF-8 sequence as (byte offset, byte, reason) or None, in this pass."""
    digest, decoder, total, bad_utf8 = hashlib.sha256(), codecs.getincrementaldecoder("utf-8")(), 0, None
    while True:
        chunk = read(min(READ_CHUNK_BYTES, max_bytes + 1 - total))  # never more than 1 byte past
        if total + len(chunk) > max_bytes:
            raise _too_large(url, max_bytes, f"more than {max_bytes} bytes read")
        if bad_utf8 is None:
            pending = len(decoder.getstate()[0])  # bytes of an unfinished character
            try:
                decoder.decode(chunk, final=not chunk)
            except UnicodeDecodeError as exc:
                bad_utf8 = (total - pending + exc.start, exc.object[exc.start], exc.reason)
        if not chunk:
            return total, digest.hexdigest(), bad_utf8
        digest.update(chunk)
        sink.write(chunk)
        total += len(chunk)


def _http_once(url: str, max_bytes: int, timeout: float, sink: Any) -> Downloaded:
    errors, pool = urllib3.exceptions, urllib3.PoolManager()  # a fresh connection per attempt
    try:
        # urllib3 follows redirects but retries nothing: fetch_to() retries whole downloads (which
        # also covers a body cut off mid-stream) and says so on stderr. A body shorter than its
        # Content-Length is an error (urllib3 1.26, Glue's, does not check that by default).
        response = pool.request(
            "GET",
            url,
            preload_content=False,
            enforce_content_length=True,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            retries=urllib3.Retry(total=5, connect=0, read=0, status=0, redirect=5, respect_retry_after_header=False),
            headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
        )
        try:
            status = f"HTTP {response.status} {response.reason or ''}".rstrip()
            if response.status == 429 or 500 <= response.status <= 599:
                try:  # seconds or an HTTP date; none, or a garbled one, leaves the backoff
                    after = urllib3.Retry().get_retry_after(response)
                except errors.InvalidHeader:
                    after = None
                raise _Retryable(status, after)
            if response.status >= 300:
                raise IngestError(
                    f"{status} from {url} (not retried: a client error does not go away by "
                    "retrying). hint: check --source_url (for GitHub use the "
                    "raw.githubusercontent.com URL of the file) and that the file still exists "
                    "there"
                )
            declared = response.headers.get("Content-Length", "").strip()
            if declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(url, max_bytes, f"it declares Content-Length {int(declared)}")
            return copy_capped(response.read, url, max_bytes, sink)
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


def _s3_download(s3: Any, url: str, bucket: str, max_bytes: int, sink: Any) -> Downloaded:
    """get_object with the job's client; botocore retries transient S3 errors itself."""
    src_bucket, _, key = url[len("s3://") :].partition("/")  # a key is taken as it is, '?' and '#' too
    if not src_bucket or not key:
        raise IngestError(
            f"--source_url {url} does not name an object; hint: pass s3://<bucket>/<key>, "
            f"e.g. s3://{bucket}/{SOURCE_PREFIX}countries.json"
        )
    where, upload = f"(bucket {src_bucket}, key {key})", f"s3://{bucket}/{SOURCE_PREFIX}"
    try:
        obj = s3.get_object(Bucket=src_bucket, Key=key)
        try:
            if obj["ContentLength"] > max_bytes:  # before reading a byte
                raise _too_large(url, max_bytes, f"its ContentLength is {obj['ContentLength']}")
            return copy_capped(obj["Body"].read, url, max_bytes, sink)
        finally:
            obj["Body"].close()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code = error.get("Code", "Unknown")
        hint = {
            "NoSuchKey": f"there is no such object; upload the file to s3://{src_bucket}/{SOURCE_PREFIX} "
            "first and pass its exact key",
            "NoSuchBucket": f"the bucket does not exist; upload the file to {upload} and pass {upload}<file>",
            "AccessDenied": f"the Glue job's role may read only {upload}*; upload the file there and pass "
            f"{upload}<file> (S3 also answers AccessDenied for a missing key when the role "
            "may not list the bucket)",
        }.get(code, "check the object and the job role's s3:GetObject permission")
        raise IngestError(f"cannot read source {url} {where}: {code} ({error.get('Message', exc)}). hint: {hint}")
    except (BotoCoreError, urllib3.exceptions.HTTPError, OSError) as exc:
        raise IngestError(
            f"could not download {url} {where}: {type(exc).__name__} ({exc}). hint: check "
            "the S3 endpoint (AWS_ENDPOINT_URL when set), network access and credentials"
        )


def fetch_to(
    url: str, sink: Any, options: Dict[str, Any], s3: Any, sleep: Callable[[float], None] = time.sleep
) -> Downloaded:
    """Download url into the binary file `sink`: s3:// with boto3; http(s) with urllib3, retrying
    transient failures with exponential backoff (each attempt starts the file again)."""
    parts, bucket, attempts = urllib.parse.urlsplit(url), options["bucket"], options["max_attempts"]
    scheme = parts.scheme.lower()
    fix = (
        f"upload the file to s3://{bucket}/{SOURCE_PREFIX} and pass "
        f"s3://{bucket}/{SOURCE_PREFIX}{os.path.basename(parts.path) or 'countries.json'}"
    )
    if scheme == "file":
        raise IngestError(
            f"--source_url {url} is a local file, but a Glue worker cannot read the caller's "
            f"disk. hint: {fix} as --source_url"
        )
    if scheme not in ("http", "https", "s3"):
        raise IngestError(
            f"unsupported --source_url {url!r}: the scheme must be http, https or s3 (hint: for a local file, {fix})"
        )
    if scheme == "s3":
        return _s3_download(s3, url, bucket, options["max_bytes"], sink)
    for attempt in range(1, attempts + 1):
        sink.seek(0)
        sink.truncate()
        try:
            return _http_once(url, options["max_bytes"], options["timeout_seconds"], sink)
        except _Retryable as exc:
            if attempt >= attempts:
                raise IngestError(
                    f"could not download {url}: {exc} (gave up after {attempts} attempt(s)). "
                    "hint: the source may be down or slow; re-run the job later, or raise "
                    "--timeout_seconds / --max_attempts"
                ) from exc
            delay = RETRY_BASE_DELAY_SECONDS * 2 ** (attempt - 1)
            if exc.retry_after is not None:  # the server said when to come back
                delay = min(exc.retry_after, MAX_RETRY_AFTER_SECONDS)
            log(f"retry {attempt}/{attempts - 1}: {exc} from {url}; sleeping {delay:g}s")
            sleep(delay)


# --- Parse ---------------------------------------------------------------------------------------


def json_type_name(value: Any) -> str:
    return {
        dict: "object",
        list: "array",
        str: "string",
        bool: "boolean",
        int: "number",
        float: "number",
        type(None): "null",
    }.get(type(value), type(value).__name__)


def _reject_constant(name: str) -> Any:
    raise ValueError(name)  # NaN/Infinity are not JSON (Snowflake rejects them); Python accepts them


def _too_deep(url: str, where: str) -> IngestError:
    # Python's json recurses once per level; past the recursion limit it raises RecursionError, whether
    # parsing or writing a record back out. Both are this one clean error, never a traceback.
    return IngestError(
        f"source {url} nests JSON arrays/objects too deeply to parse: {where} goes deeper "
        f"than about {sys.getrecursionlimit()} levels. hint: a country record is a few "
        "levels deep; check that the URL serves the countries file"
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
            last_newline = seen + chunk.rfind("\n") if "\n" in chunk else last_newline
            byte_offset += len(chunk.encode("utf-8"))
            seen += len(chunk)
    return lines + 1, pos - last_newline, byte_offset


def iter_json_array(path: str, url: str, size: int) -> Iterator[Any]:
    """The elements of the top-level JSON array in the (valid UTF-8) file, one at a time, with
    json.loads()'s messages and positions; any other top level is read through and described.

    Why by hand: Glue's Python shell 3.9 preloads no streaming JSON parser (see GLUE_PROVIDED_MODULES)
    and --additional-python-modules would pip install one on every run. So each element is parsed
    with the standard library's json.JSONDecoder.raw_decode over a sliding buffer of about
    PARSE_CHUNK_CHARS; the brackets, commas, keys and colons between elements are read here.
    Memory: a buffer and an element.
    """
    decoder = json.JSONDecoder(parse_constant=_reject_constant)
    with open(path, encoding="utf-8", newline="") as f:
        buf, base, pos, eof = "", 0, 0, False  # buf[pos] is char base + pos of the file

        def more() -> None:
            nonlocal buf, base, pos, eof
            if pos > PARSE_CHUNK_CHARS:  # slide: drop what was consumed
                buf, base, pos = buf[pos:], base + pos, 0
            chunk = f.read(PARSE_CHUNK_CHARS)
            buf, eof = buf + chunk, len(chunk) < PARSE_CHUNK_CHARS

        def at(chars: str) -> bool:  # skip whitespace; is the next character one of `chars`?
            nonlocal pos
            while True:
                while pos < len(buf) and buf[pos] in " \t\n\r":
                    pos += 1
                if pos < len(buf) or eof:
                    return pos < len(buf) and buf[pos] in chars
                more()

        def fail(msg: str) -> IngestError:
            lineno, colno, byte_offset = _locate(path, base + pos)
            return IngestError(
                f"source {url} is not valid JSON: {msg} at line {lineno}, column {colno} "
                f"(char {base + pos}, byte {byte_offset}) of {size} bytes. hint: a truncated "
                "or interrupted download, or a URL that returns an HTML page instead of the "
                "raw file"
            )

        def value() -> Any:
            nonlocal pos
            at("")
            while True:
                try:
                    item, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as exc:
                    # an error at the end of the buffer may only be the buffer's end: extend, parse again
                    if eof or not (exc.pos >= len(buf) - 64 or exc.msg.startswith("Unterminated string")):
                        pos = exc.pos
                        raise fail(exc.msg) from None
                except ValueError as exc:  # NaN, Infinity (parse_constant)
                    raise IngestError(
                        f"source {url} is not valid JSON: it contains the non-standard "
                        f"constant {exc} (NaN/Infinity are not allowed in JSON). hint: fix the "
                        "source"
                    ) from None
                except RecursionError:
                    line, column, _ = _locate(path, base + pos)
                    where = f"the value at line {line}, column {column} (char {base + pos})"
                    raise _too_deep(url, where) from None
                else:  # a number ending near the buffer's end may go on in the next chunk ("1.5" "e3")
                    if eof or end < len(buf) - 64:
                        pos = end
                        return item
                more()

        more()
        close = {"[": "]", "{": "}"}[buf[pos]] if at("[{") else None
        top, count, keys = value() if close is None else None, 0, []
        if close is not None:
            pos += 1
            while not (count == 0 and at(close)):
                if close == "}":  # an object: read through for the error below, keeping its first keys
                    if not at('"'):
                        raise fail("Expecting property name enclosed in double quotes")
                    key = value()
                    keys += [key] if len(keys) < 5 else []
                    if not at(":"):
                        raise fail("Expecting ':' delimiter")
                    pos += 1
                item = value()
                if close == "]":
                    yield item
                count += 1
                if at(close):
                    break
                if not at(","):
                    raise fail("Expecting ',' delimiter")
                pos += 1
            pos += 1
        at("")
        if pos < len(buf):
            raise fail("Extra data")
        if close != "]":
            what = json_type_name(top)
            if close == "}":
                what = f"object with {count} key(s) ({', '.join(keys)})" if count else "empty object"
            raise IngestError(
                f"top level of source {url} is a JSON {what}, but a JSON array of country "
                "objects is expected. hint: point --source_url at the file that holds the "
                "array itself"
            )
        if count == 0:
            raise IngestError(
                f"source {url} has 0 records; refusing to replace the landed file with "
                "nothing. hint: check the source; the previously landed file was left "
                "unchanged"
            )


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
        problems.append(
            ("invalid:name.common", f"name.common is not a non-empty string (got {json.dumps(name['common'])})")
        )
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

    def __init__(
        self, on_valid: Callable[[Any], Any], on_rejected: Callable[[Any], Any], code_re: Optional[Pattern[str]] = None
    ):
        self.on_valid, self.on_rejected, self.code_re = on_valid, on_rejected, code_re
        self.received = self.loaded = self.quarantined = 0
        self.reasons: Dict[str, int] = {}
        self.examples: List[Dict[str, Any]] = []  # the first 3 quarantine entries
        self._loaded_at: Dict[str, int] = {}

    def add(self, record: Any) -> None:
        index, self.received = self.received, self.received + 1
        problems = record_problems(record, self.code_re)
        cca3 = record.get("cca3") if isinstance(record, dict) else None
        cca3 = cca3 if isinstance(cca3, str) else None
        if cca3 in self._loaded_at:
            problems.append(
                ("duplicate:cca3", f"duplicate cca3 {cca3} (already loaded from record_index {self._loaded_at[cca3]})")
            )
        if not problems:
            self._loaded_at[cca3], self.loaded = index, self.loaded + 1
            return self.on_valid(record)
        entry = {
            "record_index": index,
            "cca3": cca3,
            "reason_codes": [code for code, _ in problems],
            "reasons": [message for _, message in problems],
            "record": record,
        }
        self.quarantined += 1
        for code in entry["reason_codes"]:
            self.reasons[code] = self.reasons.get(code, 0) + 1
        self.examples += [entry] if len(self.examples) < 3 else []
        self.on_rejected(entry)


# --- Write ---------------------------------------------------------------------------------------

# Why NDJSON and not the source's array: Snowflake's COPY INTO ... FILE_FORMAT = (TYPE = JSON) loads one
# VARIANT row per top-level JSON value, so every country is its own row and no row nears the 16 MB
# VARIANT limit, and Snowflake can split a line-delimited file. Each record is validated and quarantined
# on its own. Landing the array with STRIP_OUTER_ARRAY = TRUE would keep the file one document.


def ndjson_line(item: Any) -> bytes:
    return (json.dumps(item, ensure_ascii=False, separators=(",", ":")) + "\n").encode("utf-8")


def upload_ndjson(s3: Any, bucket: str, key: str, path: str, metadata: Dict[str, str]) -> Optional[str]:
    """Upload the file with boto3's transfer manager; return the VersionId (None: unversioned bucket).
    upload_file returns nothing, and a head_object afterwards could see a later writer's version, so the
    VersionId comes from this upload's own PutObject / CompleteMultipartUpload response, caught by
    botocore's after-call event on this client: race-free, whoever writes the key next."""
    versions: List[Optional[str]] = []
    events = [f"after-call.s3.{op}" for op in ("PutObject", "CompleteMultipartUpload")]
    for event in events:
        s3.meta.events.register(
            event, lambda parsed, **_: versions.append(parsed.get("VersionId")), unique_id=f"countries-ingest-{event}"
        )
    sizes = {
        "multipart_threshold": MULTIPART_THRESHOLD_BYTES,
        "multipart_chunksize": MULTIPART_PART_BYTES,
        "max_concurrency": UPLOAD_THREADS,
    }
    try:  # the classic manager calls this client (so the event fires); boto3 < 1.33 has no other
        config = TransferConfig(preferred_transfer_client="classic", **sizes)
    except TypeError:
        config = TransferConfig(**sizes)
    # S3 metadata travel as HTTP headers, so ASCII only: a non-ASCII source URL is percent-encoded
    ascii_metadata = {k: urllib.parse.quote(v, safe=":/?#[]@!$&'()*+,;=%~-._") for k, v in metadata.items()}
    extra = {"ContentType": "application/x-ndjson", "Metadata": ascii_metadata}
    try:
        s3.upload_file(path, bucket, key, ExtraArgs=extra, Config=config)
    except (ClientError, BotoCoreError, S3UploadFailedError) as exc:
        what = "PutObject" if os.path.getsize(path) <= MULTIPART_THRESHOLD_BYTES else "multipart upload"
        cause = exc.__context__ if isinstance(exc.__context__, ClientError) else exc  # S3UploadFailedError's
        if isinstance(cause, ClientError):
            error = cause.response.get("Error", {})
            raise IngestError(
                f"S3 {what} to s3://{bucket}/{key} failed: {error.get('Code', 'Unknown')} "
                f"({error.get('Message', cause)}). hint: check that the bucket exists and that "
                "the job's IAM role may s3:PutObject on it"
            ) from exc
        raise IngestError(
            f"S3 {what} to s3://{bucket}/{key} failed: {type(exc).__name__} ({exc}). hint: "
            "check the S3 endpoint (AWS_ENDPOINT_URL when set), network access and credentials"
        )
    finally:
        for event in events:
            s3.meta.events.unregister(event, unique_id=f"countries-ingest-{event}")
    return versions[-1] if versions else None


# --- Main ----------------------------------------------------------------------------------------


def run(argv: Sequence[str], s3_client: Any, failure: Dict[str, Any]) -> Dict[str, Any]:
    """Do the whole job and return the summary; raise IngestError on an expected failure. `failure`
    (the ingest_failed line) is filled in as the run goes: stage, source size and sha256, counts."""
    options = parse_args(argv)
    url, bucket, key, run_id = options["source_url"], options["bucket"], options["key"], options["run_id"]
    failure.update(run_id=run_id, source_url=url, stage="download")
    s3 = s3_client if s3_client is not None else boto3.client("s3")  # reads s3:// sources, writes output
    log(f"run {run_id}: fetching {url}")
    with tempfile.TemporaryDirectory(prefix="countries-ingest-") as tmp:
        source, valid, rejected = (os.path.join(tmp, n) for n in ("source.json", "valid.nd", "rejected.nd"))
        with open(source, "w+b") as sink:
            source_bytes, source_sha256, bad_utf8 = fetch_to(url, sink, options, s3)
        failure.update(source_bytes=source_bytes, source_sha256=source_sha256, stage="parse")
        log(f"fetched {source_bytes} bytes, sha256 {source_sha256}")
        if bad_utf8 is not None:
            offset, byte, reason = bad_utf8
            raise IngestError(
                f"source {url} is not valid UTF-8: byte 0x{byte:02x} at byte offset {offset} "
                f"({reason}). hint: the source must be UTF-8 encoded JSON; check that the URL "
                "serves the raw file and not a re-encoded copy"
            )
        # One streaming pass parses, validates and writes the NDJSON files; S3 is written only after it.
        code_re = re.compile(options["code_pattern"]) if options["code_pattern"] else None
        with open(valid, "wb") as valid_file, open(rejected, "wb") as rejected_file:
            splitter = RecordSplitter(
                lambda r: valid_file.write(ndjson_line(r)), lambda e: rejected_file.write(ndjson_line(e)), code_re
            )
            for record in iter_json_array(source, url, source_bytes):
                try:
                    splitter.add(record)
                except RecursionError:  # parsed just below the limit, but too deep to check or write
                    raise _too_deep(url, f"record_index {splitter.received - 1}") from None
        os.remove(source)
        received, loaded, quarantined = splitter.received, splitter.loaded, splitter.quarantined
        reasons = dict(sorted(splitter.reasons.items()))
        failure.update(received=received, stage="validate")
        log(f"received {received} record(s): {loaded} valid, {quarantined} to quarantine")
        summary = {
            "event": "ingest_summary",
            "run_id": run_id,
            "source_url": url,
            "source_bytes": source_bytes,
            "source_sha256": source_sha256,
            "received": received,
            "loaded": loaded,
            "quarantined": quarantined,
            "bucket": bucket,
            "key": key,
            "version_id": None,
            "quarantine_key": None,
            "unchanged": False,
            "quarantine_reasons": reasons,
        }
        if loaded and options["skip_if_sha256"] == source_sha256:
            # The landed file holds this very source (its metadata; the caller checked the script sha256):
            # writing it again would only add an identical version. Its quarantine is under the run that
            # landed it.
            log(f"source unchanged (sha256 {source_sha256} is what the landed file holds): nothing written")
            return {**summary, "unchanged": True}
        failure["stage"] = "write"
        # A landed file is only "the same" as a fresh ingest if the same code validated the same source.
        with open(__file__, "rb") as script:
            script_sha256 = hashlib.sha256(script.read()).hexdigest()
        metadata = {
            "source-sha256": source_sha256,
            "source-url": url,
            "run-id": run_id,
            "ingest-script-sha256": script_sha256,
        }
        quarantine_key = f"{options['quarantine_prefix']}{run_id}/rejected.ndjson" if quarantined else None
        if quarantine_key:  # first: the landed file is the run's commit point
            upload_ndjson(s3, bucket, quarantine_key, rejected, {**metadata, "records": str(quarantined)})
            log(f"quarantined {quarantined} record(s) to s3://{bucket}/{quarantine_key}")
        if not loaded:  # keep every record with its reasons, but never replace the landed file with nothing
            failure.update(
                stage="validate", quarantined=quarantined, quarantine_key=quarantine_key, quarantine_reasons=reasons
            )
            examples = "; ".join(
                f"record_index {e['record_index']}: {', '.join(e['reasons'])}" for e in splitter.examples
            )
            raise IngestError(
                f"none of the {received} records in {url} is valid, so the landed file was "
                f"not replaced (first problems: {examples}); every record is in s3://{bucket}/"
                f"{quarantine_key} with its reasons. hint: the source's format may have "
                "changed; compare a record with the checks in record_problems()"
            )
        version_id = upload_ndjson(s3, bucket, key, valid, {**metadata, "records": str(loaded)})
        log(f"wrote {loaded} record(s) to s3://{bucket}/{key}")
        return {**summary, "version_id": version_id, "quarantine_key": quarantine_key}


def main(argv: Sequence[str], s3_client: Any = None) -> int:
    # The machine-readable twin of the ERROR line, filled in by run() as far as it gets (received
    # None: the file could not be read as records).
    failure: Dict[str, Any] = {
        "event": "ingest_failed",
        "run_id": None,
        "source_url": None,
        "stage": "arguments",
        "error": None,
        "source_bytes": None,
        "source_sha256": None,
        "received": None,
        "loaded": 0,
        "quarantined": 0,
        "quarantine_key": None,
        "quarantine_reasons": {},
    }
    try:
        summary = run(argv, s3_client, failure)
    except Exception as exc:  # noqa: BLE001 - every failure is one ERROR line, never a traceback
        message = str(exc)
        if not isinstance(exc, IngestError):  # a bug or the unforeseen: say what and where
            last = traceback.extract_tb(exc.__traceback__, limit=-1)[0]
            message = (
                f"unexpected {type(exc).__name__} during stage {failure['stage']} at "
                f"{os.path.basename(last.filename)}:{last.lineno}: {exc}. hint: this is a bug in "
                "the ingest job; report it with this line"
            )
        print(f"ERROR: {message}", file=sys.stderr, flush=True)
        print(json.dumps({**failure, "error": message}, ensure_ascii=False), flush=True)
        return 1
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
