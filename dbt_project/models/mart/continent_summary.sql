-- One row per continent. Each country counts once per continent: the currency flatten in TRANSFORM
-- multiplies rows, so country-level measures are taken from one row per (continent, country).
with country_continent as (
    select distinct
        country_continent_name,
        country_code,
        population,
        area_km2,
        is_un_member
    from {{ ref('country_details_transform') }}
),

currencies as (
    select
        country_continent_name,
        count(distinct currency_code) as distinct_currency_count
    from {{ ref('country_details_transform') }}
    group by country_continent_name
)

select
    country_continent.country_continent_name as continent_name,
    count(*) as country_count,
    sum(country_continent.population)::number(38, 0) as total_population,
    round(sum(country_continent.area_km2), 2)::number(38, 2) as total_area,
    currencies.distinct_currency_count,
    count_if(country_continent.is_un_member) as un_member_count
from country_continent
inner join currencies on currencies.country_continent_name = country_continent.country_continent_name
group by country_continent.country_continent_name, currencies.distinct_currency_count
