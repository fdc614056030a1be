-- The target's database belongs to the account setup (sql/00_account_setup.sql, run once by an
-- administrator): the target's role owns it but may not create databases. Inside it the pipeline
-- makes its own schemas. LANDING holds how Snowflake reaches S3 (the external stage and its JSON file
-- format); it is never swapped by the publish step, so the stage stays put. RAW, TRANSFORM and MART
-- (what users query) and their _BUILD twins are made by the load, dbt and publish steps
-- (sql/04_load.sql, sql/05_publish.sql).
CREATE SCHEMA IF NOT EXISTS {{ database }}.LANDING;
