{{ country_details_for_continent('South America') }}
