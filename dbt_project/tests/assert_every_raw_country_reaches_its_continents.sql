-- Nothing lost between RAW and TRANSFORM: every (country, continent) pair in the RAW VARIANT has at
-- least one TRANSFORM row. Returns the missing pairs.
with raw_pairs as (
    select raw.country_code, continent.value::string as continent_name
    from {{ ref('country_details_raw') }} as raw,
        lateral flatten(input => raw.data:continents) as continent
)

select raw_pairs.*
from raw_pairs
left join {{ ref('country_details_transform') }} as transformed
    on transformed.country_code = raw_pairs.country_code
    and transformed.country_continent_name = raw_pairs.continent_name
where transformed.country_code is null
