"""`python -m helpers.dbt_entry <dbt arguments>`: dbt's own CLI, with a finite network timeout for the
Snowflake connector. helpers/dbt.py runs dbt this way.

snowflake-connector-python retries a request whose connection fails until its `network_timeout`,
which is infinite by default, and dbt-snowflake's profile has no setting for it: a warehouse that
goes away in the middle of `dbt build` makes dbt hang forever (measured: > 10 minutes, then killed).
This sets the connector's default to DBT_SNOWFLAKE_NETWORK_TIMEOUT seconds (helpers.settings:
SNOWFLAKE_NETWORK_TIMEOUT, 300 unless set) before dbt starts; nothing else differs from `dbt`.
"""

from __future__ import annotations

import os
import sys


def main() -> None:
    timeout = os.environ.get("DBT_SNOWFLAKE_NETWORK_TIMEOUT")
    if timeout:
        from snowflake.connector import connection

        _infinite, accepted = connection.DEFAULT_CONFIGURATION["network_timeout"]
        connection.DEFAULT_CONFIGURATION["network_timeout"] = (int(timeout), accepted)
    from dbt.cli.main import cli

    sys.argv[0] = "dbt"
    sys.exit(cli())


if __name__ == "__main__":
    main()
