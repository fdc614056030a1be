-- The publish: swap each tested build schema with the schema users query, RAW then TRANSFORM then MART.
-- ALTER SCHEMA ... SWAP WITH is one metadata operation per layer: a reader of MART sees the whole old
-- MART or the whole new one, never a mix. The swapped-out version stays in the _BUILD schema until the
-- next load replaces it. (Snowflake: ALTER SCHEMA, "SWAP WITH": swaps all objects and metadata,
-- including privileges, between the two schemas.)
{% for layer in layers %}
CREATE SCHEMA IF NOT EXISTS {{ database }}.{{ layer }};
ALTER SCHEMA {{ database }}.{{ layer }}{{ suffix }} SWAP WITH {{ database }}.{{ layer }};
{% endfor %}
