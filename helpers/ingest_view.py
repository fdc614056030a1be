"""What notebook 02 shows of the ingest: the Glue script's functions as source, a source with one bad
record (to see the quarantine work), and the landed object's versions as a table."""

from __future__ import annotations

import importlib.util
import inspect
import json
from pathlib import Path
from types import ModuleType
from typing import Any

from helpers.settings import PROJECT_ROOT, Settings

SCRIPT = PROJECT_ROOT / "glue" / "countries_ingest.py"
FIXTURE = PROJECT_ROOT / "helpers" / "fixtures" / "countries_sample.json"
BAD_SOURCE_NAME = "countries_one_bad_record.json"


def script_module() -> ModuleType:
    """glue/countries_ingest.py imported as a module (it is a script Glue downloads, not a package)."""
    spec = importlib.util.spec_from_file_location("countries_ingest", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def function_source(name: str) -> str:
    """The source of one function of the Glue script, by name."""
    return inspect.getsource(getattr(script_module(), name))


def write_bad_source(directory: Path, index: int = 3, drop: str = "cca3") -> tuple[str, dict[str, Any]]:
    """The fixture with `drop` removed from record `index`: (its file:// URL, the broken record)."""
    records = json.loads(FIXTURE.read_bytes())
    del records[index][drop]
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / BAD_SOURCE_NAME
    path.write_bytes(json.dumps(records, ensure_ascii=False).encode("utf-8"))
    return path.resolve().as_uri(), records[index]


def versions_rows(settings: Settings, labels: dict[str, str]) -> list[dict[str, Any]]:
    """The landed object's versions, oldest first: number, size, latest?, and which run wrote it
    (`labels`: version id -> a name; version ids and times are left out, they differ every run)."""
    s3 = settings.aws_client("s3")
    listing = s3.list_object_versions(Bucket=settings.bucket, Prefix=settings.data_key)
    # S3 lists a key's versions newest first
    versions = [v for v in listing.get("Versions", []) if v["Key"] == settings.data_key][::-1]
    return [
        {
            "version": i,
            "bytes": v["Size"],
            "latest": v["IsLatest"],
            "written by": labels.get(v["VersionId"], "an earlier run"),
        }
        for i, v in enumerate(versions, 1)
    ]
