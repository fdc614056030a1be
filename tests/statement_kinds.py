"""The kinds of SQL statement the pipeline, dbt and the teardown send, and the fidelity test of each.

`statement_kind(sql)` names a statement's kind (what the local warehouse must do as Snowflake does, apart
from names and literals). tests/integration/test_parity_ledger.py records every statement of a dev run,
a prod run, an unchanged re-run and a teardown, and fails when a kind appears that is not in
`FIDELITY_TESTS` or in docs/parity.md.
"""

from __future__ import annotations

import re

# (kind, pattern on the normalised statement: comments gone, whitespace collapsed, upper case)
KINDS: tuple[tuple[str, str], ...] = (
    ("ALTER SCHEMA ... SWAP WITH", r"ALTER SCHEMA (IF EXISTS )?\S+ SWAP WITH \S+"),
    ("ALTER STORAGE INTEGRATION ... SET", r"ALTER (STORAGE )?INTEGRATION \S+ SET .*"),
    ("COPY INTO ... FROM (SELECT ... FROM @stage)", r"COPY INTO .* FROM \( ?SELECT .* FROM @.*"),
    ("COPY INTO ... FROM @stage", r"COPY INTO \S+ FROM @.*"),
    ("CREATE DATABASE IF NOT EXISTS", r"CREATE DATABASE IF NOT EXISTS \S+"),
    ("CREATE FILE FORMAT IF NOT EXISTS ... TYPE = JSON", r"CREATE FILE FORMAT IF NOT EXISTS \S+ TYPE = JSON.*"),
    (
        "CREATE OR REPLACE STAGE ... URL STORAGE_INTEGRATION",
        r"CREATE OR REPLACE STAGE \S+ URL = .* STORAGE_INTEGRATION = .*",
    ),
    ("CREATE STORAGE INTEGRATION IF NOT EXISTS", r"CREATE STORAGE INTEGRATION IF NOT EXISTS .*"),
    ("CREATE SCHEMA IF NOT EXISTS", r"CREATE SCHEMA IF NOT EXISTS \S+"),
    ("CREATE SCHEMA", r"CREATE SCHEMA \S+"),
    ("CREATE [OR REPLACE] [TRANSIENT] TABLE ... CLONE", r"CREATE (OR REPLACE )?(TRANSIENT )?TABLE \S+ CLONE \S+"),
    (
        "CREATE OR REPLACE TRANSIENT TABLE ... AS SELECT",
        r"CREATE OR REPLACE TRANSIENT TABLE \S+ (\(.*\) )?AS \(? ?(WITH|SELECT) .*",
    ),
    ("CREATE OR REPLACE TRANSIENT TABLE (columns)", r"CREATE OR REPLACE TRANSIENT TABLE \S+ ?\(.*\)"),
    ("CREATE OR REPLACE TABLE ... AS SELECT", r"CREATE OR REPLACE TABLE \S+ AS \(? ?(WITH|SELECT) .*"),
    ("DESC INTEGRATION", r"DESC(RIBE)? (STORAGE )?INTEGRATION \S+"),
    ("DROP DATABASE IF EXISTS", r"DROP DATABASE IF EXISTS \S+"),
    ("DROP SCHEMA IF EXISTS", r"DROP SCHEMA IF EXISTS \S+"),
    ("DROP STORAGE INTEGRATION IF EXISTS", r"DROP (STORAGE )?INTEGRATION IF EXISTS \S+"),
    ("DROP TABLE IF EXISTS", r"DROP TABLE IF EXISTS \S+"),
    ("LIST @stage", r"(LIST|LS) @\S+"),
    ("SHOW DATABASES", r"SHOW DATABASES"),
    ("SHOW INTEGRATIONS", r"SHOW (STORAGE )?INTEGRATIONS.*"),
    ("SHOW OBJECTS IN schema", r"SHOW OBJECTS IN \S+.*"),
    ("SHOW SCHEMAS IN DATABASE", r"SHOW SCHEMAS IN DATABASE \S+"),
    ("SHOW TERSE SCHEMAS IN DATABASE", r"SHOW TERSE SCHEMAS IN DATABASE \S+.*"),
    ("SHOW STAGES IN ACCOUNT", r"SHOW STAGES IN ACCOUNT"),
    ("SHOW STAGES IN DATABASE", r"SHOW STAGES IN DATABASE \S+"),
    ("SHOW USER FUNCTIONS IN", r"SHOW USER FUNCTIONS IN .*"),
    # account objects and grants (helpers/local_cloud/account_objects.py; sql/00, sql/99, the publish)
    ("USE ROLE", r"USE ROLE \S+"),
    ("CREATE ROLE IF NOT EXISTS", r"CREATE ROLE IF NOT EXISTS \S+.*"),
    ("DROP ROLE IF EXISTS", r"DROP ROLE IF EXISTS \S+"),
    ("CREATE WAREHOUSE IF NOT EXISTS", r"CREATE WAREHOUSE IF NOT EXISTS \S+.*"),
    ("ALTER WAREHOUSE ... SET", r"ALTER WAREHOUSE \S+ SET .*"),
    ("DROP WAREHOUSE IF EXISTS", r"DROP WAREHOUSE IF EXISTS \S+"),
    ("CREATE RESOURCE MONITOR IF NOT EXISTS ... TRIGGERS", r"CREATE RESOURCE MONITOR IF NOT EXISTS \S+ .*TRIGGERS .*"),
    ("ALTER RESOURCE MONITOR ... SET", r"ALTER RESOURCE MONITOR \S+ SET .*"),
    ("DROP RESOURCE MONITOR IF EXISTS", r"DROP RESOURCE MONITOR IF EXISTS \S+"),
    ("CREATE USER IF NOT EXISTS ... TYPE = SERVICE", r"CREATE USER IF NOT EXISTS \S+ .*TYPE = SERVICE.*"),
    ("ALTER USER ... SET RSA_PUBLIC_KEY", r"ALTER USER \S+ SET RSA_PUBLIC_KEY = .*"),
    ("DROP USER IF EXISTS", r"DROP USER IF EXISTS \S+"),
    ("DESC USER", r"DESC(RIBE)? USER \S+"),
    ("GRANT ROLE ... TO ROLE or USER", r"GRANT ROLE \S+ TO (ROLE|USER) \S+"),
    ("REVOKE ROLE ... FROM ROLE or USER", r"REVOKE ROLE \S+ FROM (ROLE|USER) \S+"),
    (
        "GRANT OWNERSHIP ON ... TO ROLE ... COPY CURRENT GRANTS",
        r"GRANT OWNERSHIP ON \w+ \S+ TO ROLE \S+ COPY CURRENT GRANTS",
    ),
    ("GRANT ... ON ALL TABLES IN SCHEMA ... TO ROLE", r"GRANT [A-Z_, ]+ ON ALL TABLES IN SCHEMA \S+ TO ROLE \S+"),
    (
        "GRANT ... ON <object> TO ROLE",
        r"GRANT [A-Z_, ]+ ON (WAREHOUSE|DATABASE|SCHEMA|INTEGRATION|TABLE) \S+ TO ROLE \S+",
    ),
    ("REVOKE ... ON ALL TABLES IN SCHEMA ... FROM ROLE", r"REVOKE [A-Z_, ]+ ON ALL TABLES IN SCHEMA \S+ FROM ROLE \S+"),
    (
        "REVOKE ... ON <object> FROM ROLE",
        r"REVOKE [A-Z_, ]+ ON (WAREHOUSE|DATABASE|SCHEMA|INTEGRATION|TABLE) \S+ FROM ROLE \S+",
    ),
    ("SHOW ROLES", r"SHOW ROLES( LIKE .*)?"),
    ("SHOW WAREHOUSES", r"SHOW WAREHOUSES( LIKE .*)?"),
    ("SHOW RESOURCE MONITORS", r"SHOW RESOURCE MONITORS( LIKE .*)?"),
    ("SHOW USERS", r"SHOW USERS( LIKE .*)?"),
    ("SHOW GRANTS TO ROLE or USER", r"SHOW GRANTS TO (ROLE|USER) \S+"),
    ("SHOW GRANTS OF ROLE", r"SHOW GRANTS OF ROLE \S+"),
    ("SHOW GRANTS ON", r"SHOW GRANTS ON \w+( MONITOR)? \S+"),
    ("SELECT", r"\(? ?(WITH|SELECT) .*"),
)

STRICT = "tests/integration/test_local_warehouse_strict.py"
FIDELITY = "tests/integration/test_local_cloud_fidelity.py"
PUBLISH = "tests/integration/test_publish.py"
ACCOUNT = "tests/integration/test_local_account_objects.py"
FIDELITY_TESTS: dict[str, str] = {
    "ALTER SCHEMA ... SWAP WITH": f"{STRICT}::test_swap_with_exchanges_every_table_with_its_kind_and_rows",
    "ALTER STORAGE INTEGRATION ... SET": f"{FIDELITY}::test_create_or_replace_integration_regenerates_the_external_id_but_if_not_exists_keeps_it",
    "COPY INTO ... FROM (SELECT ... FROM @stage)": f"{FIDELITY}::test_copy_with_transformation_records_file_name_and_row_number",
    "COPY INTO ... FROM @stage": f"{FIDELITY}::test_copy_json_loads_one_row_per_top_level_value",
    "CREATE DATABASE IF NOT EXISTS": f"{STRICT}::test_if_not_exists_leaves_an_existing_object_as_it_is",
    "CREATE FILE FORMAT IF NOT EXISTS ... TYPE = JSON": f"{STRICT}::test_if_not_exists_leaves_an_existing_object_as_it_is",
    "CREATE OR REPLACE STAGE ... URL STORAGE_INTEGRATION": f"{FIDELITY}::test_stage_outside_the_allowed_locations_is_refused",
    "CREATE STORAGE INTEGRATION IF NOT EXISTS": f"{FIDELITY}::test_create_or_replace_integration_regenerates_the_external_id_but_if_not_exists_keeps_it",
    "CREATE SCHEMA IF NOT EXISTS": f"{STRICT}::test_if_not_exists_leaves_an_existing_object_as_it_is",
    "CREATE SCHEMA": f"{STRICT}::test_drop_schema_drops_what_it_holds_and_if_exists_tolerates_a_missing_one",
    "CREATE [OR REPLACE] [TRANSIENT] TABLE ... CLONE": f"{STRICT}::test_a_transient_table_cannot_be_cloned_into_a_permanent_one",
    "CREATE OR REPLACE TRANSIENT TABLE ... AS SELECT": f"{STRICT}::test_transient_to_transient_and_permanent_to_any_kind_are_allowed_and_reported",
    "CREATE OR REPLACE TRANSIENT TABLE (columns)": f"{STRICT}::test_create_or_replace_replaces_and_reports_the_kind",
    "CREATE OR REPLACE TABLE ... AS SELECT": f"{STRICT}::test_create_or_replace_replaces_and_reports_the_kind",
    "DESC INTEGRATION": f"{FIDELITY}::test_desc_integration_reports_an_existing_iam_user_and_an_external_id",
    "DROP DATABASE IF EXISTS": f"{STRICT}::test_drop_schema_drops_what_it_holds_and_if_exists_tolerates_a_missing_one",
    "DROP SCHEMA IF EXISTS": f"{STRICT}::test_drop_schema_drops_what_it_holds_and_if_exists_tolerates_a_missing_one",
    "DROP STORAGE INTEGRATION IF EXISTS": f"{FIDELITY}::test_show_and_drop_integration",
    "DROP TABLE IF EXISTS": f"{STRICT}::test_drop_schema_drops_what_it_holds_and_if_exists_tolerates_a_missing_one",
    "LIST @stage": f"{FIDELITY}::test_list_stage_lists_the_s3_objects_with_sizes",
    "SHOW DATABASES": f"{STRICT}::test_the_show_commands_answer_with_the_columns_their_callers_read",
    "SHOW INTEGRATIONS": f"{FIDELITY}::test_show_and_drop_integration",
    "SHOW OBJECTS IN schema": f"{STRICT}::test_the_show_commands_answer_with_the_columns_their_callers_read",
    "SHOW SCHEMAS IN DATABASE": f"{STRICT}::test_the_show_commands_answer_with_the_columns_their_callers_read",
    "SHOW TERSE SCHEMAS IN DATABASE": f"{STRICT}::test_the_show_commands_answer_with_the_columns_their_callers_read",
    "SHOW STAGES IN ACCOUNT": f"{STRICT}::test_the_show_commands_answer_with_the_columns_their_callers_read",
    "SHOW STAGES IN DATABASE": f"{STRICT}::test_the_show_commands_answer_with_the_columns_their_callers_read",
    "SHOW USER FUNCTIONS IN": f"{STRICT}::test_the_show_commands_answer_with_the_columns_their_callers_read",
    "SELECT": f"{FIDELITY}::test_flatten_outer_keeps_a_row_for_empty_and_missing_input",
    # account objects and grants
    "USE ROLE": f"{ACCOUNT}::test_grants_naming_a_missing_role_user_or_object_fail",
    "CREATE ROLE IF NOT EXISTS": f"{ACCOUNT}::test_running_the_setup_twice_gives_identical_show_output",
    "DROP ROLE IF EXISTS": f"{ACCOUNT}::test_the_teardown_removes_everything_the_setup_made",
    "CREATE WAREHOUSE IF NOT EXISTS": f"{ACCOUNT}::test_the_setup_creates_what_show_reports",
    "ALTER WAREHOUSE ... SET": f"{ACCOUNT}::test_altering_a_missing_warehouse_monitor_or_user_fails",
    "DROP WAREHOUSE IF EXISTS": f"{ACCOUNT}::test_the_teardown_removes_everything_the_setup_made",
    "CREATE RESOURCE MONITOR IF NOT EXISTS ... TRIGGERS": f"{ACCOUNT}::test_the_setup_creates_what_show_reports",
    "ALTER RESOURCE MONITOR ... SET": f"{ACCOUNT}::test_altering_a_missing_warehouse_monitor_or_user_fails",
    "DROP RESOURCE MONITOR IF EXISTS": f"{ACCOUNT}::test_the_teardown_removes_everything_the_setup_made",
    "CREATE USER IF NOT EXISTS ... TYPE = SERVICE": f"{ACCOUNT}::test_a_service_user_cannot_have_a_password",
    "ALTER USER ... SET RSA_PUBLIC_KEY": f"{ACCOUNT}::test_a_key_rotation_and_a_role_revocation_show_at_once",
    "DROP USER IF EXISTS": f"{ACCOUNT}::test_the_teardown_removes_everything_the_setup_made",
    "DESC USER": f"{ACCOUNT}::test_the_setup_creates_what_show_reports",
    "GRANT ROLE ... TO ROLE or USER": f"{ACCOUNT}::test_grants_naming_a_missing_role_user_or_object_fail",
    "REVOKE ROLE ... FROM ROLE or USER": f"{ACCOUNT}::test_a_key_rotation_and_a_role_revocation_show_at_once",
    "GRANT OWNERSHIP ON ... TO ROLE ... COPY CURRENT GRANTS": f"{ACCOUNT}::test_ownership_is_transferred_never_revoked",
    "GRANT ... ON ALL TABLES IN SCHEMA ... TO ROLE": f"{ACCOUNT}::test_select_on_all_tables_grants_the_tables_that_exist_now",
    "GRANT ... ON <object> TO ROLE": f"{ACCOUNT}::test_grants_naming_a_missing_role_user_or_object_fail",
    "REVOKE ... ON ALL TABLES IN SCHEMA ... FROM ROLE": f"{ACCOUNT}::test_swap_with_moves_the_grants_with_the_schemas_and_their_tables",
    "REVOKE ... ON <object> FROM ROLE": f"{ACCOUNT}::test_swap_with_moves_the_grants_with_the_schemas_and_their_tables",
    "SHOW ROLES": f"{ACCOUNT}::test_the_setup_creates_what_show_reports",
    "SHOW WAREHOUSES": f"{ACCOUNT}::test_the_setup_creates_what_show_reports",
    "SHOW RESOURCE MONITORS": f"{ACCOUNT}::test_the_setup_creates_what_show_reports",
    "SHOW USERS": f"{ACCOUNT}::test_the_setup_creates_what_show_reports",
    "SHOW GRANTS TO ROLE or USER": f"{ACCOUNT}::test_the_setup_creates_what_show_reports",
    "SHOW GRANTS OF ROLE": f"{ACCOUNT}::test_the_setup_creates_what_show_reports",
    "SHOW GRANTS ON": f"{ACCOUNT}::test_the_setup_creates_what_show_reports",
}


def normalise(sql: str) -> str:
    sql = re.sub(r"/\*.*?\*/", " ", sql, flags=re.DOTALL)
    sql = "\n".join(re.sub(r"--.*$", "", line) for line in sql.splitlines())
    return " ".join(sql.split()).rstrip(";").upper().replace("( ", "(").replace(" )", ")")


def statement_kind(sql: str) -> str:
    """The kind of `sql` (one of KINDS), or "UNKNOWN: <first words>" - a kind nobody has checked."""
    text = normalise(sql)
    for kind, pattern in KINDS:
        if re.fullmatch(pattern, text, flags=re.DOTALL):
            return kind
    return "UNKNOWN: " + " ".join(text.split()[:3])
