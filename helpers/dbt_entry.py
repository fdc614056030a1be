"""`python -m helpers.dbt_entry <dbt arguments>`: dbt's own CLI, with a finite network timeout for the
Snowflake connector; helpers/dbt.py runs dbt in-process with the same timeout (`network_timeout`).

snowflake-connector-python retries a request whose connection fails until its `network_timeout`,
which is infinite by default, and dbt-snowflake's profile has no setting for it: a warehouse that
goes away in the middle of `dbt build` makes dbt hang forever (measured: > 10 minutes, then killed).
This sets the connector's default to DBT_SNOWFLAKE_NETWORK_TIMEOUT seconds (helpers.settings:
SNOWFLAKE_NETWORK_TIMEOUT, 300 unless set) before dbt starts, and skips one optional import dbt never
uses (`skip_unused_imports`); nothing else differs from `dbt`.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator


def skip_unused_imports() -> None:
    """Before dbt is first imported in this process: make the optional import dbt never uses
    unimportable (helpers.optional_imports.IRI_GRAMMARS: 1.5 s of dbt's 3.7 s import). Nothing changes
    once jsonschema is imported, and a module already imported is left alone."""
    from helpers import optional_imports

    if "jsonschema" in sys.modules:
        return
    optional_imports.skip(optional_imports.IRI_GRAMMARS)


def set_network_timeout(seconds: int) -> int | None:
    """The connector's default network_timeout for connections opened from now on (dbt-snowflake
    passes none of its own); returns the previous default."""
    from snowflake.connector import connection

    previous, accepted = connection.DEFAULT_CONFIGURATION["network_timeout"]
    connection.DEFAULT_CONFIGURATION["network_timeout"] = (seconds, accepted)
    return previous


@contextlib.contextmanager
def network_timeout(seconds: int) -> Iterator[None]:
    """`set_network_timeout` for the connections a block opens, then the default as it was (the
    pipeline's own connections pass their timeout explicitly; other code in the process keeps its own)."""
    previous = set_network_timeout(seconds)
    try:
        yield
    finally:
        set_network_timeout(previous)  # type: ignore[arg-type]


def main() -> None:
    skip_unused_imports()
    timeout = os.environ.get("DBT_SNOWFLAKE_NETWORK_TIMEOUT")
    if timeout:
        set_network_timeout(int(timeout))
    from dbt.cli.main import cli

    sys.argv[0] = "dbt"
    sys.exit(cli())


if __name__ == "__main__":
    main()
