{#- Schemas are exactly RAW, TRANSFORM and MART in every target; the targets differ by database
    (dev and prod), not by schema prefix as dbt's default <target_schema>_<custom> would do.
    The pipeline builds and tests into RAW_BUILD, TRANSFORM_BUILD and MART_BUILD first
    (`--vars '{schema_suffix: _BUILD}'`) and publishes to the real schemas only when every model,
    test and check passed, so a failing run never touches what users query. A bare `dbt build`
    (no suffix) builds the real schemas directly. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | upper }}{{ var('schema_suffix') | upper }}
    {%- else -%}
        {{ custom_schema_name | trim | upper }}{{ var('schema_suffix') | upper }}
    {%- endif -%}
{%- endmacro %}
