-- The load: this run's landed file into a fresh build, before dbt, so dbt's source tests check
-- exactly this load. Nothing here touches RAW, TRANSFORM or MART: the publish step swaps the tested
-- build in (sql/05_publish.sql).
--
-- Fresh build schemas: whatever an earlier build left (or the previous publish swapped out) goes,
-- so a table that is not rebuilt now can never be published by accident. (DROP SCHEMA drops what
-- the schema holds: CASCADE is Snowflake's default.)
{% for layer in layers %}
DROP SCHEMA IF EXISTS {{ database }}.{{ layer }}{{ suffix }};
CREATE SCHEMA {{ database }}.{{ layer }}{{ suffix }};
{% endfor %}

-- The copy table: one VARIANT per country plus where it came from. Transient, like every table dbt
-- builds: it is rebuilt from S3 by every load, so Fail-safe storage would buy nothing.
CREATE OR REPLACE TRANSIENT TABLE {{ database }}.RAW{{ suffix }}.COUNTRIES_COPY (
  DATA VARIANT,
  SOURCE_FILE VARCHAR,
  SOURCE_FILE_ROW NUMBER(38, 0),
  LOADED_AT TIMESTAMP_LTZ
);

-- No FORCE: the table is new, so it has no load metadata and every staged file loads once.
-- Run this COPY again and Snowflake answers LOAD_SKIPPED for each file (idempotent by design).
COPY INTO {{ database }}.RAW{{ suffix }}.COUNTRIES_COPY (DATA, SOURCE_FILE, SOURCE_FILE_ROW, LOADED_AT)
FROM (
  SELECT $1, METADATA$FILENAME, METADATA$FILE_ROW_NUMBER, METADATA$START_SCAN_TIME
  FROM @{{ database }}.LANDING.COUNTRIES_STAGE
)
FILE_FORMAT = (FORMAT_NAME = '{{ database }}.LANDING.COUNTRIES_JSON_FORMAT');
