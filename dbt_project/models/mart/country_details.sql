-- One row per country and continent: TRANSFORM's rows (one per country, continent and currency)
-- folded back to the country, its currencies counted and listed. The seven continent tables are
-- filters of this model (macros/country_details_for_continent.sql).
select
    country_code,
    country_code_2,
    country_name,
    country_official_name,
    country_continent_name,
    region,
    subregion,
    capital_name,
    population,
    area_km2,
    is_un_member,
    is_independent,
    count(currency_code) as currency_count,
    listagg(currency_code, ', ') within group (order by currency_code) as currency_codes,
    load_id,
    insert_dts
from {{ ref('country_details_transform') }}
group by
    country_code, country_code_2, country_name, country_official_name, country_continent_name,
    region, subregion, capital_name, population, area_km2, is_un_member, is_independent,
    load_id, insert_dts
