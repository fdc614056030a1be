-- One database per dbt target (dev, prod). LANDING holds how Snowflake reaches S3 (the external stage
-- and its JSON file format); it is never swapped by the publish step, so the stage stays put.
-- RAW, TRANSFORM and MART (what users query) and their _BUILD twins are made by the load, dbt and
-- publish steps (sql/04_load.sql, sql/05_publish.sql).
CREATE DATABASE IF NOT EXISTS {{ database }};
CREATE SCHEMA IF NOT EXISTS {{ database }}.LANDING;
