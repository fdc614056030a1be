-- How the landed files are read: NDJSON, one country per line, so COPY makes one VARIANT row per
-- country (STRIP_OUTER_ARRAY only matters for a file holding one big JSON array).
CREATE FILE FORMAT IF NOT EXISTS {{ database }}.LANDING.COUNTRIES_JSON_FORMAT
  TYPE = JSON
  STRIP_OUTER_ARRAY = TRUE;

-- The external stage points at the data prefix only, and reads it through the integration.
-- OR REPLACE is safe here: a stage holds no data and no load history (that belongs to the table).
CREATE OR REPLACE STAGE {{ database }}.LANDING.COUNTRIES_STAGE
  URL = 's3://{{ bucket }}/{{ data_prefix }}'
  STORAGE_INTEGRATION = {{ integration }}
  FILE_FORMAT = {{ database }}.LANDING.COUNTRIES_JSON_FORMAT;

-- What Snowflake sees through the stage: the first read through the integration's role.
LIST @{{ database }}.LANDING.COUNTRIES_STAGE;
