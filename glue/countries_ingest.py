"""AWS Glue Python shell job: land the REST Countries JSON file in S3 as NDJSON.

Download ``--source_url`` (https, http or s3; a Glue worker cannot read the caller's disk, so a local
file is uploaded to ``s3://<bucket>/incoming/`` first and file:// is refused) -> check size, UTF-8 and
JSON -> validate each country -> write the valid records to ``s3://<bucket>/<key>`` and the rejected
ones, with their reasons, to ``s3://<bucket>/<quarantine_prefix><run_id>/rejected.ndjson``. One boto3
client (the job role's credentials) reads s3:// sources and writes; boto3 takes the endpoint from
``AWS_ENDPOINT_URL`` when set, so the same script runs against a local emulator, with no switch here.

Job arguments: --source_url --bucket --key --quarantine_prefix (required); --max_bytes (104857600),
--timeout_seconds (30), --max_attempts (4), --run_id (default Glue's --JOB_RUN_ID, else "manual"),
--skip_if_sha256 (when the download has this sha256, write nothing: the summary says "unchanged"),
--code_pattern (a regex cca3 must match in full instead of ISO 3166-1 alpha-3, for synthetic data).

It streams: the download goes to a temporary file (size cap checked before and while reading), the
JSON is parsed one element at a time, records go to temporary NDJSON files uploaded by boto3's transfer
manager. Success: exit 0 and one JSON line ``{"event": "ingest_summary", ...}`` on stdout (progress and
``retry n/m`` lines on stderr). Failure: exit 1, ``ERROR: <what, where, why, hint>`` on stderr (never a
traceback) and ``{"event": "ingest_failed", "stage": ..., "error": ..., <counts known>}`` on stdout; a
failure of the whole file writes nothing, and when no record is valid only the quarantine is written.
"""
from __future__ import annotations

import argparse
import codecs
import hashlib
import itertools
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
NDJSON_CONTENT_TYPE = "application/x-ndjson"
SOURCE_PREFIX = "incoming/"  # where local files go for the job (its role may read only this prefix)
_CCA3_RE = re.compile(r"\A[A-Z]{3}\Z")


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
    own (--JOB_ID, --job-bookmark-option, --scriptLocation, ...) are left over and ignored."""
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
        raise IngestError(f"missing required job argument(s): {', '.join(missing)}; hint: set them as job "
                          "parameters (DefaultArguments) of the Glue job, or pass them on the command line "
                          "as '--name value'")
    for name in REQUIRED_ARGS:
        if not args[name]:
            raise IngestError(f"argument --{name} must not be empty")
    args["run_id"] = args.pop("run_id") or args.pop("JOB_RUN_ID") or "manual"
    args.pop("JOB_RUN_ID", None)
    if "/" in args["run_id"]:
        raise IngestError(f"argument --run_id must not contain '/', got {args['run_id']!r}")
    try:
        re.compile(args["code_pattern"])
    except re.error as exc:
        raise IngestError(f"argument --code_pattern is not a valid regular expression ({exc}): "
                          f"{args['code_pattern']!r}") from exc
    args["skip_if_sha256"] = args["skip_if_sha256"].strip().lower()
    return args


# --- Download ------------------------------------------------------------------------------------

def _too_large(url: str, max_bytes: int, detail: str) -> IngestError:
    return IngestError(f"source {url} is larger than max_bytes={max_bytes} ({detail}); stopped reading. "
                       "hint: check that the URL returns the countries file and not something else; if the "
                       "source legitimately grew, raise --max_bytes")


def copy_capped(read: Callable[[int], bytes], url: str, max_bytes: int, sink: Any) -> None:
    """Copy read(n) chunks to `sink`; give up as soon as more than max_bytes have arrived."""
    total = 0
    while True:
        chunk = read(min(READ_CHUNK_BYTES, max_bytes + 1 - total))  # never more than 1 byte past
        if not chunk:
            return
        total += len(chunk)
        if total > max_bytes:
            raise _too_large(url, max_bytes, f"more than {max_bytes} bytes read")
        sink.write(chunk)


def _http_once(url: str, max_bytes: int, timeout: float, sink: Any) -> None:
    errors, pool = urllib3.exceptions, urllib3.PoolManager()  # a fresh connection per attempt
    try:
        # urllib3 follows redirects but retries nothing: fetch_to() retries whole downloads (which
        # also covers a body cut off mid-stream) and says so on stderr. A body shorter than its
        # Content-Length is an error (urllib3 1.26, Glue's, does not check that by default).
        response = pool.request("GET", url, preload_content=False, enforce_content_length=True,
                                timeout=urllib3.Timeout(connect=timeout, read=timeout),
                                retries=urllib3.Retry(total=5, connect=0, read=0, status=0, redirect=5,
                                                      respect_retry_after_header=False),
                                headers={"User-Agent": USER_AGENT, "Accept": "application/json"})
        try:
            status = f"HTTP {response.status} {response.reason or ''}".rstrip()
            if response.status == 429 or 500 <= response.status <= 599:
                after = response.headers.get("Retry-After")
                try:  # seconds or an HTTP date; none, or a garbled one, leaves the backoff
                    after = urllib3.Retry().parse_retry_after(after) if after else None
                except errors.InvalidHeader:
                    after = None
                raise _Retryable(status, after)
            if response.status >= 300:
                raise IngestError(f"{status} from {url} (not retried: a client error does not go away by "
                                  "retrying). hint: check --source_url (for GitHub use the "
                                  "raw.githubusercontent.com URL of the file) and that the file still exists "
                                  "there")
            declared = response.headers.get("Content-Length", "").strip()
            if declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(url, max_bytes, f"it declares Content-Length {int(declared)}")
            copy_capped(response.read, url, max_bytes, sink)
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


def _s3_download(s3: Any, url: str, bucket: str, max_bytes: int, sink: Any) -> None:
    """get_object with the job's client; botocore retries transient S3 errors itself."""
    src_bucket, _, key = url[len("s3://"):].partition("/")  # a key is taken as it is, '?' and '#' too
    if not src_bucket or not key:
        raise IngestError(f"--source_url {url} does not name an object; hint: pass s3://<bucket>/<key>, "
                          f"e.g. s3://{bucket}/{SOURCE_PREFIX}countries.json")
    where, upload = f"(bucket {src_bucket}, key {key})", f"s3://{bucket}/{SOURCE_PREFIX}"
    try:
        obj = s3.get_object(Bucket=src_bucket, Key=key)
        try:
            if obj["ContentLength"] > max_bytes:  # before reading a byte
                raise _too_large(url, max_bytes, f"its ContentLength is {obj['ContentLength']}")
            copy_capped(obj["Body"].read, url, max_bytes, sink)
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
        raise IngestError(f"cannot read source {url} {where}: {code} ({error.get('Message', exc)}). "
                          f"hint: {hint}")
    except (BotoCoreError, urllib3.exceptions.HTTPError, OSError) as exc:
        raise IngestError(f"could not download {url} {where}: {type(exc).__name__} ({exc}). hint: check "
                          "the S3 endpoint (AWS_ENDPOINT_URL when set), network access and credentials")


def fetch_to(url: str, sink: Any, options: Dict[str, Any], s3: Any,
             sleep: Callable[[float], None] = time.sleep) -> None:
    """Download url into the binary file `sink`: s3:// with boto3; http(s) with urllib3, retrying
    transient failures with exponential backoff (each attempt starts the file again)."""
    parts, bucket, attempts = urllib.parse.urlsplit(url), options["bucket"], options["max_attempts"]
    fix = (f"upload the file to s3://{bucket}/{SOURCE_PREFIX} and pass "
           f"s3://{bucket}/{SOURCE_PREFIX}{os.path.basename(parts.path) or 'countries.json'}")
    if parts.scheme.lower() == "file":
        raise IngestError(f"--source_url {url} is a local file, but a Glue worker cannot read the caller's "
                          f"disk. hint: {fix} as --source_url")
    if parts.scheme.lower() not in ("http", "https", "s3"):
        raise IngestError(f"unsupported --source_url {url!r}: the scheme must be http, https or s3 "
                          f"(hint: for a local file, {fix})")
    if parts.scheme.lower() == "s3":
        return _s3_download(s3, url, bucket, options["max_bytes"], sink)
    for attempt in range(1, attempts + 1):
        sink.seek(0)
        sink.truncate()
        try:
            return _http_once(url, options["max_bytes"], options["timeout_seconds"], sink)
        except _Retryable as exc:
            if attempt >= attempts:
                raise IngestError(f"could not download {url}: {exc} (gave up after {attempts} attempt(s)). "
                                  "hint: the source may be down or slow; re-run the job later, or raise "
                                  "--timeout_seconds / --max_attempts") from exc
            delay = RETRY_BASE_DELAY_SECONDS * 2 ** (attempt - 1)
            if exc.retry_after is not None:  # the server said when to come back
                delay = min(exc.retry_after, MAX_RETRY_AFTER_SECONDS)
            log(f"retry {attempt}/{attempts - 1}: {exc} from {url}; sleeping {delay:g}s")
            sleep(delay)


# --- Check and parse -----------------------------------------------------------------------------

def json_type_name(value: Any) -> str:
    return {dict: "object", list: "array", str: "string", bool: "boolean", int: "number", float: "number",
            type(None): "null"}.get(type(value), type(value).__name__)


def _reject_constant(name: str) -> Any:
    raise ValueError(name)  # NaN/Infinity are not JSON (Snowflake rejects them); Python accepts them


def hash_and_check_utf8(path: str) -> Tuple[int, str, Optional[Tuple[int, int, str]]]:
    """(size, sha256, the first invalid UTF-8 sequence as (byte offset, byte, reason) or None), in one
    pass; the incremental decoder carries a character split between chunks."""
    digest, decoder, size, problem = hashlib.sha256(), codecs.getincrementaldecoder("utf-8")(), 0, None
    with open(path, "rb") as f:
        for chunk in itertools.chain(iter(lambda: f.read(PARSE_CHUNK_CHARS), b""), [None]):
            if problem is None:
                pending = len(decoder.getstate()[0])  # bytes of an unfinished character
                try:
                    decoder.decode(chunk or b"", final=chunk is None)
                except UnicodeDecodeError as exc:
                    problem = (size - pending + exc.start, exc.object[exc.start], exc.reason)
            if chunk:
                digest.update(chunk)
                size += len(chunk)
    return size, digest.hexdigest(), problem


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
    PARSE_CHUNK_CHARS (an element running past its end is parsed again once the buffer grew); the
    brackets, commas, keys and colons between elements are read here. Memory: a buffer and an element.
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
            return IngestError(f"source {url} is not valid JSON: {msg} at line {lineno}, column {colno} "
                               f"(char {base + pos}, byte {byte_offset}) of {size} bytes. hint: a truncated "
                               "or interrupted download, or a URL that returns an HTML page instead of the "
                               "raw file")

        def value() -> Any:
            nonlocal pos
            while True:
                try:
                    item, end = decoder.raw_decode(buf, pos)
                except json.JSONDecodeError as exc:
                    # cut off by the end of the buffer: extend it and parse again
                    if not eof and (exc.pos >= len(buf) - 64 or exc.msg.startswith("Unterminated string")):
                        more()
                        continue
                    pos = exc.pos
                    raise fail(exc.msg) from None
                except ValueError as exc:  # NaN, Infinity (parse_constant)
                    raise IngestError(f"source {url} is not valid JSON: it contains the non-standard "
                                      f"constant {exc} (NaN/Infinity are not allowed in JSON). hint: fix the "
                                      "source") from None
                except RecursionError:
                    lineno, colno, _ = _locate(path, base + pos)
                    raise IngestError(f"source {url} nests JSON arrays/objects too deeply to parse: the "
                                      f"value at line {lineno}, column {colno} (char {base + pos}) goes "
                                      f"deeper than about {sys.getrecursionlimit()} levels. hint: a country "
                                      "record is a few levels deep; check that the URL serves the countries "
                                      "file") from None
                if end < len(buf) or eof:  # else a number or literal may go on in the next chunk
                    pos = end
                    return item
                more()

        more()
        top, count, keys = value() if not at("[{") else [] if buf[pos] == "[" else {}, 0, []
        if isinstance(top, (list, dict)):
            close, pos = "]" if isinstance(top, list) else "}", pos + 1
            while not (count == 0 and at(close)):
                if close == "]":
                    yield value()
                else:  # an object: read through for the error below, keeping its first keys
                    if not at('"'):
                        raise fail("Expecting property name enclosed in double quotes")
                    key = value()
                    keys += [key] if len(keys) < 5 else []
                    if not at(":"):
                        raise fail("Expecting ':' delimiter")
                    pos += 1
                    at("")
                    value()
                count += 1
                if at(close):
                    break
                if not at(","):
                    raise fail("Expecting ',' delimiter")
                pos += 1
                at("")
            pos += 1
        at("")
        if pos < len(buf):
            raise fail("Extra data")
        if not isinstance(top, list):
            what = json_type_name(top)
            if isinstance(top, dict):
                what = f"object with {count} key(s) ({', '.join(keys)})" if count else "empty object"
            raise IngestError(f"top level of source {url} is a JSON {what}, but a JSON array of country "
                              "objects is expected. hint: point --source_url at the file that holds the "
                              "array itself")
        if count == 0:
            raise IngestError(f"source {url} has 0 records; refusing to replace the landed file with "
                              "nothing. hint: check the source; the previously landed file was left "
                              "unchanged")


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
        problems.append(("type:name",
                         f"name is a JSON {json_type_name(name)}, not an object with name.common"))
    elif not isinstance(name["common"], str) or not name["common"].strip():
        problems.append(("invalid:name.common",
                         f"name.common is not a non-empty string (got {json.dumps(name['common'])})"))
    cca3 = record.get("cca3")
    shown = json.dumps(cca3, ensure_ascii=False)
    if "cca3" not in record:
        problems.append(("missing:cca3", "missing cca3"))
    elif code_re is None and not (isinstance(cca3, str) and _CCA3_RE.match(cca3)):
        problems.append(("invalid:cca3", f"cca3 is not a 3-letter uppercase code (got {shown})"))
    elif code_re is not None and not (isinstance(cca3, str) and code_re.fullmatch(cca3)):
        problems.append(("invalid:cca3",
                         f"cca3 does not match --code_pattern {code_re.pattern} (got {shown})"))
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
            problems.append((f"type:{field}",
                             f"{field} is a JSON {json_type_name(record[field])}, not {wanted}"))
    return problems


class RecordSplitter:
    """Validate records in source order and hand each to `on_valid` or, as a quarantine entry, to
    `on_rejected`. A cca3 already loaded from an earlier record is a duplicate (the first valid one
    is loaded). received == loaded + quarantined."""

    def __init__(self, on_valid: Callable[[Any], Any], on_rejected: Callable[[Any], Any],
                 code_re: Optional[Pattern[str]] = None):
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
            problems.append(("duplicate:cca3", f"duplicate cca3 {cca3} (already loaded from record_index "
                                               f"{self._loaded_at[cca3]})"))
        if not problems:
            self._loaded_at[cca3], self.loaded = index, self.loaded + 1
            return self.on_valid(record)
        entry = {"record_index": index, "cca3": cca3, "reason_codes": [code for code, _ in problems],
                 "reasons": [message for _, message in problems], "record": record}
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

    upload_file returns nothing, and a head_object afterwards could see a later writer's version, so
    the VersionId comes from this upload's own PutObject / CompleteMultipartUpload response, caught by
    botocore's after-call event on this client: race-free, whoever writes the key next.
    """
    versions: List[Optional[str]] = []
    events = [f"after-call.s3.{op}" for op in ("PutObject", "CompleteMultipartUpload")]
    for event in events:
        s3.meta.events.register(event, lambda parsed, **_: versions.append(parsed.get("VersionId")),
                                unique_id=f"countries-ingest-{event}")
    sizes = {"multipart_threshold": MULTIPART_THRESHOLD_BYTES, "multipart_chunksize": MULTIPART_PART_BYTES,
             "max_concurrency": UPLOAD_THREADS}
    try:  # the classic manager calls this client (so the event fires); boto3 < 1.33 has no other
        config = TransferConfig(preferred_transfer_client="classic", **sizes)
    except TypeError:
        config = TransferConfig(**sizes)
    ascii_metadata = {k: urllib.parse.quote(v, safe=":/?#[]@!$&'()*+,;=%~-._") for k, v in metadata.items()}
    extra = {"ContentType": NDJSON_CONTENT_TYPE, "Metadata": ascii_metadata}  # metadata are HTTP headers
    try:
        s3.upload_file(path, bucket, key, ExtraArgs=extra, Config=config)
    except (ClientError, BotoCoreError, S3UploadFailedError) as exc:
        what = "PutObject" if os.path.getsize(path) <= MULTIPART_THRESHOLD_BYTES else "multipart upload"
        cause = exc.__context__ if isinstance(exc.__context__, ClientError) else exc  # S3UploadFailedError's
        if isinstance(cause, ClientError):
            error = cause.response.get("Error", {})
            raise IngestError(f"S3 {what} to s3://{bucket}/{key} failed: {error.get('Code', 'Unknown')} "
                              f"({error.get('Message', cause)}). hint: check that the bucket exists and that "
                              "the job's IAM role may s3:PutObject on it") from exc
        raise IngestError(f"S3 {what} to s3://{bucket}/{key} failed: {type(exc).__name__} ({exc}). hint: "
                          "check the S3 endpoint (AWS_ENDPOINT_URL when set), network access and credentials")
    finally:
        for event in events:
            s3.meta.events.unregister(event, unique_id=f"countries-ingest-{event}")
    return versions[-1] if versions else None


def script_sha256() -> str:
    """sha256 of this script, recorded on the landed file: a landed file is only "the same" as a fresh
    ingest if the same source went through the same validation code."""
    with open(__file__, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


# --- Main ----------------------------------------------------------------------------------------

def run(argv: Sequence[str], s3_client: Any = None,
        progress: Optional[Dict[str, Any]] = None) -> Dict[str, Any]:
    """Do the whole job and return the summary; raise IngestError on an expected failure. ``progress``
    is filled in as the run goes (stage, source size and sha256, counts) for the failure summary."""
    progress = {} if progress is None else progress
    options = parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="countries-ingest-") as tmp:
        return _run(options, tmp, s3_client, progress)


def _run(options: Dict[str, Any], tmp: str, s3_client: Any, progress: Dict[str, Any]) -> Dict[str, Any]:
    url, bucket, key, run_id = options["source_url"], options["bucket"], options["key"], options["run_id"]
    progress.update(run_id=run_id, source_url=url, stage="download")
    s3 = s3_client if s3_client is not None else boto3.client("s3")  # reads s3:// sources, writes output
    log(f"run {run_id}: fetching {url}")
    source, valid, rejected = (os.path.join(tmp, name) for name in ("source.json", "valid.nd", "rejected.nd"))
    with open(source, "w+b") as sink:
        fetch_to(url, sink, options, s3)
    source_bytes, source_sha256, bad_utf8 = hash_and_check_utf8(source)
    progress.update(source_bytes=source_bytes, source_sha256=source_sha256, stage="parse")
    log(f"fetched {source_bytes} bytes, sha256 {source_sha256}")
    if bad_utf8 is not None:
        offset, byte, reason = bad_utf8
        raise IngestError(f"source {url} is not valid UTF-8: byte 0x{byte:02x} at byte offset {offset} "
                          f"({reason}). hint: the source must be UTF-8 encoded JSON; check that the URL "
                          "serves the raw file and not a re-encoded copy")
    # One streaming pass parses, validates and writes the NDJSON files; S3 is written only after it.
    code_re = re.compile(options["code_pattern"]) if options["code_pattern"] else None
    with open(valid, "wb") as valid_file, open(rejected, "wb") as rejected_file:
        splitter = RecordSplitter(lambda r: valid_file.write(ndjson_line(r)),
                                  lambda e: rejected_file.write(ndjson_line(e)), code_re)
        for record in iter_json_array(source, url, source_bytes):
            splitter.add(record)
    os.remove(source)
    received, loaded, quarantined = splitter.received, splitter.loaded, splitter.quarantined
    reasons = dict(sorted(splitter.reasons.items()))
    progress.update(received=received, stage="validate")
    log(f"received {received} record(s): {loaded} valid, {quarantined} to quarantine")
    summary = {"event": "ingest_summary", "run_id": run_id, "source_url": url, "source_bytes": source_bytes,
               "source_sha256": source_sha256, "received": received, "loaded": loaded,
               "quarantined": quarantined, "bucket": bucket, "key": key, "version_id": None,
               "quarantine_key": None, "unchanged": False, "quarantine_reasons": reasons}
    if loaded and options["skip_if_sha256"] == source_sha256:
        # The landed file holds this very source (its metadata; the caller checked the script sha256):
        # writing it again would only add an identical version. Its quarantine is under the run that
        # landed it.
        log(f"source unchanged (sha256 {source_sha256} is what the landed file holds): nothing written")
        return {**summary, "unchanged": True}
    progress["stage"] = "write"
    metadata = {"source-sha256": source_sha256, "source-url": url, "run-id": run_id,
                "ingest-script-sha256": script_sha256()}
    quarantine_key = f"{options['quarantine_prefix']}{run_id}/rejected.ndjson" if quarantined else None
    if quarantine_key:  # first: the landed file is the run's commit point
        upload_ndjson(s3, bucket, quarantine_key, rejected, {**metadata, "records": str(quarantined)})
        log(f"quarantined {quarantined} record(s) to s3://{bucket}/{quarantine_key}")
    if not loaded:  # keep every record with its reasons, but never replace the landed file with nothing
        progress.update(stage="validate", quarantined=quarantined, quarantine_key=quarantine_key,
                        quarantine_reasons=reasons)
        examples = "; ".join(f"record_index {e['record_index']}: {', '.join(e['reasons'])}"
                             for e in splitter.examples)
        raise IngestError(f"none of the {received} records in {url} is valid, so the landed file was not "
                          f"replaced (first problems: {examples}); every record is in s3://{bucket}/"
                          f"{quarantine_key} with its reasons. hint: the source's format may have changed; "
                          "compare a record with the checks in record_problems()")
    version_id = upload_ndjson(s3, bucket, key, valid, {**metadata, "records": str(loaded)})
    log(f"wrote {loaded} record(s) to s3://{bucket}/{key}")
    return {**summary, "version_id": version_id, "quarantine_key": quarantine_key}


def failure_summary(error: str, progress: Dict[str, Any]) -> Dict[str, Any]:
    """The machine-readable twin of the ERROR line: what failed, where, and the counts known."""
    known = {name: progress.get(name) for name in ("source_bytes", "source_sha256", "received")}
    return {"event": "ingest_failed", "run_id": progress.get("run_id"),
            "source_url": progress.get("source_url"), "stage": progress.get("stage", "arguments"),
            "error": error,
            **known,  # received None: the file could not be read as records
            "loaded": 0, "quarantined": progress.get("quarantined", 0),
            "quarantine_key": progress.get("quarantine_key"),
            "quarantine_reasons": progress.get("quarantine_reasons", {})}


def main(argv: Optional[Sequence[str]] = None, s3_client: Any = None) -> int:
    progress: Dict[str, Any] = {}
    try:
        summary = run(list(sys.argv if argv is None else argv), s3_client=s3_client, progress=progress)
    except Exception as exc:  # noqa: BLE001 - every failure is one ERROR line, never a traceback
        message = str(exc)
        if not isinstance(exc, IngestError):  # a bug or the unforeseen: say what and where
            tb = exc.__traceback__
            while tb is not None and tb.tb_next is not None:
                tb = tb.tb_next
            where = f" at {os.path.basename(tb.tb_frame.f_code.co_filename)}:{tb.tb_lineno}" if tb else ""
            stage = progress.get("stage", "arguments")
            message = (f"unexpected {type(exc).__name__} during stage {stage}{where}: {exc}. hint: this is "
                       "a bug in the ingest job; report it with this line")
        print(f"ERROR: {message}", file=sys.stderr, flush=True)
        print(json.dumps(failure_summary(message, progress), ensure_ascii=False), flush=True)
        return 1
    print(json.dumps(summary, ensure_ascii=False), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
