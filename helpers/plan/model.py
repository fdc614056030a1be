"""The plan itself: its items (a resource and what a run would do to it), the JSON diffs they carry,
and the one read helper every part of the plan uses (a missing thing is None, never an error)."""

from __future__ import annotations

import difflib
import json
from dataclasses import asdict, dataclass, field
from typing import Any


class PlanFailed(RuntimeError):
    """A service could not be reached (or answered with something other than "not there")."""


EXISTS, CREATE, CHANGE, REPLACE = "exists", "would create", "would change", "would replace"
# made by an administrator (sql/00_account_setup.sql), never by a run: a run fails without it
MISSING, DIFFERS = "missing: account setup", "differs: account setup"
ACCOUNT_SETUP_HINT = "an administrator runs sql/00_account_setup.sql (python -m helpers account setup prints it)"


@dataclass
class Item:
    section: str
    resource: str  # "<kind> <name>"; a `*` stands for a name only the run knows (a run id)
    status: str  # exists | would create | would change | would replace
    detail: str = ""
    diff: str = ""
    current: Any = None


@dataclass
class Plan:
    target: str
    mode: str
    account: str
    items: list[Item] = field(default_factory=list)
    statements: dict[str, list[str]] = field(default_factory=dict)
    dbt: dict[str, Any] = field(default_factory=dict)
    cost: dict[str, Any] = field(default_factory=dict)
    teardown: dict[str, Any] | None = None

    def add(self, *args: Any, **kwargs: Any) -> Item:
        item = Item(*args, **kwargs)
        self.items.append(item)
        return item

    def would(self, *statuses: str) -> list[Item]:
        return [i for i in self.items if i.status in statuses]

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


# -- diffs --------------------------------------------------------------------------------------
def pretty(value: Any) -> str:
    return json.dumps(value, indent=2, sort_keys=True, default=str) + "\n"


def json_diff(current: Any, wanted: Any, name: str) -> str:
    """A unified diff of pretty JSON, deployed -> wanted; "" when they are equal. `current=None`
    means "not deployed" (every line is an addition)."""
    before = [] if current is None else pretty(current).splitlines(keepends=True)
    after = pretty(wanted).splitlines(keepends=True)
    return "".join(difflib.unified_diff(before, after, f"deployed/{name}", f"wanted/{name}"))


def as_document(doc: Any) -> Any:
    """A policy document as a dict (an answer may hold it as JSON text)."""
    return json.loads(doc) if isinstance(doc, str) else doc


# -- reads --------------------------------------------------------------------------------------
GONE = {
    "NoSuchEntity",
    "NoSuchBucket",
    "NoSuchKey",
    "NotFound",
    "404",
    "EntityNotFoundException",
    "ResourceNotFoundException",
    "NoSuchPublicAccessBlockConfiguration",
    "NoSuchTagSet",
    "ServerSideEncryptionConfigurationNotFoundError",
    "NoSuchBucketPolicy",
}


def error_code(e: Exception) -> str:
    return str(getattr(e, "response", {}).get("Error", {}).get("Code", ""))


def read(fn: Any, **kwargs: Any) -> Any:
    """A read call; None when the thing is not there."""
    try:
        return fn(**kwargs)
    except Exception as e:
        if error_code(e) in GONE:
            return None
        raise
