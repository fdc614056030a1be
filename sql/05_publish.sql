-- The publish: swap each tested build schema with the schema users query, RAW then TRANSFORM then MART.
-- ALTER SCHEMA ... SWAP WITH is one metadata operation per layer: a reader of MART sees the whole old
-- MART or the whole new one, never a mix. The swapped-out version stays in the _BUILD schema until the
-- next load replaces it. (Snowflake: ALTER SCHEMA, "SWAP WITH": swaps all objects and metadata,
-- including privileges, between the two schemas.)
--
-- Because privileges travel with the schema, the reader role (sql/00_account_setup.sql) is granted
-- SELECT on the MART build BEFORE its swap - so the MART readers query is readable from the moment it
-- is published - and the grants the swapped-out MART carried are revoked after it.
{% for layer in layers %}
{% if layer == "MART" %}
GRANT USAGE ON SCHEMA {{ database }}.{{ layer }}{{ suffix }} TO ROLE {{ reader_role }};
GRANT SELECT ON ALL TABLES IN SCHEMA {{ database }}.{{ layer }}{{ suffix }} TO ROLE {{ reader_role }};
{% endif %}
CREATE SCHEMA IF NOT EXISTS {{ database }}.{{ layer }};
ALTER SCHEMA {{ database }}.{{ layer }}{{ suffix }} SWAP WITH {{ database }}.{{ layer }};
{% if layer == "MART" %}
REVOKE SELECT ON ALL TABLES IN SCHEMA {{ database }}.{{ layer }}{{ suffix }} FROM ROLE {{ reader_role }};
REVOKE USAGE ON SCHEMA {{ database }}.{{ layer }}{{ suffix }} FROM ROLE {{ reader_role }};
{% endif %}
{% endfor %}
