{#- The batch load, run as COUNTRY_DETAILS_RAW's pre-hook. Idempotent: the copy table is emptied and
    every file on the stage is copied again. FORCE = TRUE makes COPY ignore Snowflake's load
    metadata (64 days), which would otherwise skip a file it has loaded before.
    If the COPY fails, the hook fails, the RAW model is not rebuilt and nothing downstream runs:
    what users query stays as the last good run left it. -#}
{% macro load_countries_from_stage() %}
    {%- set copy_table = source('landing', 'countries_copy') -%}
    {%- set raw = copy_table.database ~ '.' ~ copy_table.schema -%}
    delete from {{ copy_table }};
    copy into {{ copy_table }} (DATA, SOURCE_FILE, SOURCE_FILE_ROW, LOADED_AT)
    from (
        select $1, METADATA$FILENAME, METADATA$FILE_ROW_NUMBER, METADATA$START_SCAN_TIME
        from @{{ raw }}.COUNTRIES_STAGE
    )
    file_format = (format_name = '{{ raw }}.COUNTRIES_JSON_FORMAT')
    force = true;
{% endmacro %}
