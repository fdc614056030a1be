"""dbt's import in the pipeline's process (helpers/dbt_entry.skip_unused_imports): an optional module
dbt's dependencies import and dbt never uses is skipped, and dbt still works without it."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

from helpers import dbt_entry
from tests.conftest import PROJECT_ROOT


def _in_a_fresh_interpreter(code: str) -> str:
    """What `code` prints, run by a new Python in the project (nothing imported yet)."""
    return subprocess.run(
        [sys.executable, "-c", code], cwd=PROJECT_ROOT, capture_output=True, text=True, check=True
    ).stdout


def _package_dir(name: str) -> Path:
    spec = importlib.util.find_spec(name)
    assert spec and spec.submodule_search_locations, name
    return Path(next(iter(spec.submodule_search_locations)))


def test_dbt_never_checks_formats_so_the_iri_checker_it_would_import_is_unused():
    """jsonschema imports rfc3987_syntax only to check the "iri" formats, and a format is checked only
    through a format checker: if a dbt upgrade starts using one, skipping the module is no longer safe."""
    users = [
        str(path)
        for package in ("dbt", "dbt_common")
        for path in _package_dir(package).rglob("*.py")
        if any(word in path.read_text(errors="replace") for word in ("FormatChecker", "format_checker", "rfc3987"))
    ]
    assert not users, users


def test_dbt_imports_and_validates_without_the_skipped_module():
    code = (
        "import sys\n"
        "from helpers import dbt_entry\n"
        "dbt_entry.skip_unused_imports()\n"
        "from dbt.cli.main import dbtRunner\n"
        "import jsonschema\n"
        "from dbt_common.dataclass_schema import ValidationError\n"
        "assert sys.modules['rfc3987_syntax'] is None\n"
        "jsonschema.validate({'a': 1}, {'properties': {'a': {'type': 'integer'}}})\n"
        "try:\n"
        "    jsonschema.validate({'a': 'x'}, {'properties': {'a': {'type': 'integer'}}})\n"
        "except jsonschema.ValidationError:\n"
        "    print('rejected')\n"
    )
    out = _in_a_fresh_interpreter(code)
    assert out.strip() == "rejected"


def test_a_module_already_imported_is_left_alone(monkeypatch):
    monkeypatch.delitem(sys.modules, "jsonschema", raising=False)
    sentinel = object()
    monkeypatch.setitem(sys.modules, "rfc3987_syntax", sentinel)
    dbt_entry.skip_unused_imports()
    assert sys.modules["rfc3987_syntax"] is sentinel


def test_nothing_is_skipped_once_jsonschema_is_imported(monkeypatch):
    import jsonschema

    monkeypatch.setitem(sys.modules, "jsonschema", jsonschema)
    monkeypatch.delitem(sys.modules, "rfc3987_syntax", raising=False)
    dbt_entry.skip_unused_imports()
    assert "rfc3987_syntax" not in sys.modules


def test_a_run_imports_dbt_on_a_daemon_thread_without_the_skipped_module():
    """Pipeline runs start dbt's import in the background (helpers.dbt.import_in_background); a run
    that needs no dbt (an unchanged source) must be able to exit before it finishes."""
    code = (
        "import sys\n"
        "from helpers import dbt\n"
        "thread = dbt.import_in_background()\n"
        "assert thread.daemon\n"
        "thread.join(120)\n"
        "assert 'dbt.cli.main' in sys.modules and sys.modules['rfc3987_syntax'] is None\n"
        "from dbt.cli.main import dbtRunner\n"
        "print('imported')\n"
    )
    out = _in_a_fresh_interpreter(code)
    assert out.strip() == "imported"
