{#- The batch load, run as COUNTRY_DETAILS_RAW's pre-hook. Idempotent: the copy table is emptied and
    every file on the stage is copied again. FORCE = TRUE makes COPY ignore Snowflake's load
    metadata (64 days), which would otherwise skip a file it has loaded before.
    The stage and file format always live in RAW (sql/03_stage.sql); the copy table is in RAW, or
    in RAW_BUILD when the pipeline builds into the _BUILD schemas (then it is created here, with
    the same columns as sql/03_stage.sql gives RAW.COUNTRIES_COPY). If the COPY fails, the hook
    fails, the RAW model is not rebuilt and nothing downstream runs. -#}
{% macro load_countries_from_stage() %}
    {%- set copy_table = source('landing', 'countries_copy') -%}
    {%- set raw = copy_table.database ~ '.RAW' -%}
    create schema if not exists {{ copy_table.database }}.{{ copy_table.schema }};
    create table if not exists {{ copy_table }} (
        DATA VARIANT,
        SOURCE_FILE VARCHAR,
        SOURCE_FILE_ROW NUMBER(38, 0),
        LOADED_AT TIMESTAMP_LTZ
    );
    delete from {{ copy_table }};
    copy into {{ copy_table }} (DATA, SOURCE_FILE, SOURCE_FILE_ROW, LOADED_AT)
    from (
        select $1, METADATA$FILENAME, METADATA$FILE_ROW_NUMBER, METADATA$START_SCAN_TIME
        from @{{ raw }}.COUNTRIES_STAGE
    )
    file_format = (format_name = '{{ raw }}.COUNTRIES_JSON_FORMAT')
    force = true;
{% endmacro %}
