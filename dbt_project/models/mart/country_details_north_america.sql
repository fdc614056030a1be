{{ country_details_for_continent('North America') }}
