{{ country_details_for_continent('Europe') }}
