{{ country_details_for_continent('Oceania') }}
