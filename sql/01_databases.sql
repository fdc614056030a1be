-- One database per dbt target (dev, prod). The RAW schema holds what lands from S3: the external
-- stage, the JSON file format and the copy table. dbt creates TRANSFORM and MART itself.
CREATE DATABASE IF NOT EXISTS {{ database }};
CREATE SCHEMA IF NOT EXISTS {{ database }}.RAW;
