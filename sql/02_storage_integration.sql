-- The storage integration lets Snowflake read our bucket by assuming an IAM role, so no AWS key is
-- ever stored in Snowflake. Creating one needs ACCOUNTADMIN (or the CREATE INTEGRATION privilege).
--
-- IF NOT EXISTS + ALTER, never CREATE OR REPLACE: replacing an integration generates a new
-- external id and silently breaks the role's trust policy written for the old one.
CREATE STORAGE INTEGRATION IF NOT EXISTS {{ integration }}
  TYPE = EXTERNAL_STAGE
  STORAGE_PROVIDER = 'S3'
  ENABLED = TRUE
  STORAGE_AWS_ROLE_ARN = '{{ role_arn }}'
  STORAGE_ALLOWED_LOCATIONS = ('s3://{{ bucket }}/{{ data_prefix }}');

ALTER STORAGE INTEGRATION {{ integration }} SET
  STORAGE_AWS_ROLE_ARN = '{{ role_arn }}'
  STORAGE_ALLOWED_LOCATIONS = ('s3://{{ bucket }}/{{ data_prefix }}');

-- STORAGE_AWS_IAM_USER_ARN and STORAGE_AWS_EXTERNAL_ID go into the role's trust policy.
DESC INTEGRATION {{ integration }};
