{#- A continent's MART table (COUNTRY_DETAILS_<CONTINENT>, a public contract): the rows of the one
    country x continent model for that continent. Its columns are the contract's (models/mart/
    _models.yml); the continent must be one of the dbt var `continents`, the project's one list.
    A table, not a view over COUNTRY_DETAILS: a view's text would name <db>.MART_BUILD.COUNTRY_DETAILS
    fully qualified, and after the publish swap MART_BUILD holds the previous run (dbt_project.yml). -#}
{% macro country_details_for_continent(continent) %}
{%- if continent not in var('continents') -%}
    {{ exceptions.raise_compiler_error(
        "country_details_for_continent('" ~ continent ~ "'): not one of the dbt var continents "
        ~ var('continents') ~ " (dbt_project.yml); add it there or fix the name") }}
{%- endif -%}
select *
from {{ ref('country_details') }}
where country_continent_name = '{{ continent }}'
{% endmacro %}
