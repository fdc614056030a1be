{#- Schemas are exactly RAW, TRANSFORM and MART in every target; the targets differ by database
    (dev and prod), not by schema prefix as dbt's default <target_schema>_<custom> would do. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- if custom_schema_name is none -%}
        {{ target.schema | upper }}
    {%- else -%}
        {{ custom_schema_name | trim | upper }}
    {%- endif -%}
{%- endmacro %}
