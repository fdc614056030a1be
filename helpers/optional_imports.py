"""Optional modules that this project's dependencies import when they are installed, and that nothing
here uses: making them unimportable saves their import cost and changes nothing we rely on.

* `rfc3987_syntax`: jsonschema imports it, when installed, to check the `iri` format (it is here
  because Jupyter's jupyter-events asks for jsonschema[format-nongpl]), and it compiles 38 Lark
  grammars as it is imported: ≈ 0.9-1.5 s of CPU. Neither dbt nor nbformat validates with a format
  checker (tests/unit/test_dbt_imports.py, tests/unit/test_notebook_kernels.py). Once jsonschema is
  imported without it, that process has no `iri` checker.
* papermill's S3 and HDFS handlers (`papermill.s3`, and `pyarrow`, which the HDFS one imports): papermill
  registers a handler for each remote store whose library it can import, and boto3 and pyarrow are here
  for other reasons; ≈ 60 MB of RSS. The walkthrough reads and writes local files only.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator

IRI_GRAMMARS = ("rfc3987_syntax",)
PAPERMILL_REMOTE_HANDLERS = ("papermill.s3", "pyarrow")


def skip(names: tuple[str, ...]) -> None:
    """From now on, importing one of `names` raises ImportError (a None entry in sys.modules), as if it
    were not installed; a module already imported is left alone."""
    for name in names:
        sys.modules.setdefault(name, None)  # type: ignore[arg-type]


@contextlib.contextmanager
def unimportable(names: tuple[str, ...]) -> Iterator[None]:
    """`skip(names)` while inside only: afterwards this process imports them as usual."""
    blocked = [name for name in names if name not in sys.modules]
    skip(tuple(blocked))
    try:
        yield
    finally:
        for name in blocked:
            if sys.modules.get(name, ...) is None:
                del sys.modules[name]
