"""The local cloud: every piece of emulator-only code in this project, and nothing else.

The pipeline (helpers/*.py outside this package, glue/, sql/, dbt_project/) runs unchanged against
real AWS and Snowflake; only `Settings` (endpoints and credentials) differs. What lives here:

* launcher.py         - `python -m helpers local up|down|status`: starts the three services below as
                        background processes on free loopback ports (PID files, health checks, logs
                        under .local/), makes a local admin (for the bootstrap and tests only) and
                        switches moto's IAM enforcement on, so policies are really evaluated.
* bootstrap.py        - what an administrator sets up once, run by every `up`: the `operator` IAM user
                        holding exactly helpers.iam_operator.operator_policy, whose key `Settings.aws_client`
                        signs with in local mode; `admin_client` for what only the admin may do.
* aws_server.py       - moto (IAM, STS, S3, Glue, CloudWatch Logs). Adds what moto lacks and the
                        pipeline relies on: a Glue job run really runs its script, as Glue would,
                        with the job role's credentials, and ships its output to CloudWatch Logs.
* snowflake_server.py - fakesnow (Snowflake on DuckDB), the app and entry point. Adds storage
                        integrations, stages that read S3 through the integration's role and external
                        id, LIST of S3 stages, COPY INTO from JSON, FLATTEN's OUTER => TRUE,
                        persistence, and a SQL error (not an HTTP 500 retry loop) for anything
                        unsupported - one module per concern: fakesnow_compat.py (every private
                        fakesnow name, checked at start, and the patches), local_warehouse.py
                        (dispatch), stage_catalog.py, stage_s3.py, copy_json.py, warehouse_sql.py.
* account_objects.py  - roles, warehouses, resource monitors, users and grants for the local warehouse
                        (recorded, not evaluated), so sql/00_account_setup.sql runs as on Snowflake.
* the `source` service - a static HTTP server for helpers/fixtures, standing in for
                        raw.githubusercontent.com (python -m http.server, no code of ours).

Each behaviour has a test in tests/integration/test_local_cloud_fidelity.py that states what real
Snowflake or AWS does.
"""
