-- How the landed files are read: NDJSON, one country per line, so COPY makes one VARIANT row per
-- country (STRIP_OUTER_ARRAY only matters for a file holding one big JSON array).
CREATE FILE FORMAT IF NOT EXISTS {{ database }}.RAW.COUNTRIES_JSON_FORMAT
  TYPE = JSON
  STRIP_OUTER_ARRAY = TRUE;

-- The external stage points at the data prefix only, and reads it through the integration.
-- OR REPLACE is safe here: a stage holds no data and no load history.
CREATE OR REPLACE STAGE {{ database }}.RAW.COUNTRIES_STAGE
  URL = 's3://{{ bucket }}/{{ data_prefix }}'
  STORAGE_INTEGRATION = {{ integration }}
  FILE_FORMAT = {{ database }}.RAW.COUNTRIES_JSON_FORMAT;

-- The copy table: one VARIANT per country plus where it came from. dbt's RAW model fills it with
-- COPY INTO (macro load_countries_from_stage) and builds COUNTRY_DETAILS_RAW from it.
CREATE TABLE IF NOT EXISTS {{ database }}.RAW.COUNTRIES_COPY (
  DATA VARIANT,
  SOURCE_FILE VARCHAR,
  SOURCE_FILE_ROW NUMBER(38, 0),
  LOADED_AT TIMESTAMP_LTZ
);

LIST @{{ database }}.RAW.COUNTRIES_STAGE;
