with countries as (
    select * from {{ ref('country_details_raw') }}
),

continents as (
    select
        countries.country_code,
        continent.value::string as continent_name
    from countries,
        lateral flatten(input => countries.data:continents, outer => true) as continent
),

currencies as (
    select
        countries.country_code,
        currency.key::string as currency_code,
        currency.value:name::string as currency_name,
        currency.value:symbol::string as currency_symbol
    from countries,
        lateral flatten(input => countries.data:currencies, outer => true) as currency
)

select
    countries.country_code,
    countries.data:cca2::string as country_code_2,
    countries.data:name.common::string as country_name,
    countries.data:name.official::string as country_official_name,
    continents.continent_name as country_continent_name,
    countries.data:region::string as region,
    countries.data:subregion::string as subregion,
    countries.data:capital[0]::string as capital_name,
    countries.data:population::number(38, 0) as population,
    countries.data:area::float as area_km2,
    countries.data:unMember::boolean as is_un_member,
    countries.data:independent::boolean as is_independent,
    currencies.currency_code,
    currencies.currency_name,
    currencies.currency_symbol,
    countries.source_file,
    countries.load_id,
    countries.insert_dts
from countries
inner join continents on continents.country_code = countries.country_code
inner join currencies on currencies.country_code = countries.country_code
