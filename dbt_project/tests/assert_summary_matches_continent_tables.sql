-- Reconciliation inside the MART: CONTINENT_SUMMARY's country_count equals the number of rows of
-- each continent's table. Returns the continents where they differ.
with table_counts as (
    {% for continent in var('continents') %}
    select '{{ continent }}' as continent_name, count(*) as table_rows
    from {{ ref('country_details_' ~ continent | lower | replace(' ', '_')) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select table_counts.continent_name, table_counts.table_rows, summary.country_count
from table_counts
left join {{ ref('continent_summary') }} as summary
    on summary.continent_name = table_counts.continent_name
where coalesce(summary.country_count, 0) != table_counts.table_rows
