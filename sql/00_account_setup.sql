-- noqa: disable=LT02
-- (sqlfluff reads the options of CREATE WAREHOUSE / RESOURCE MONITOR / USER as flat: they are indented for the reader)
-- Account setup: run ONCE by a Snowflake administrator, never by the pipeline. Re-running it is safe
-- (IF NOT EXISTS, then ALTER ... SET to the values below). `python -m helpers account setup`
-- renders it for your account; paste it into a Snowsight worksheet signed in as an administrator.
-- Afterwards nothing the pipeline or dbt runs needs ACCOUNTADMIN: each environment has its own role,
-- service user and database, and an analyst gets a read-only role on MART.
--
-- Which system role does what (Snowflake's recommended split of duties):
--   USERADMIN/SECURITYADMIN  roles, users, grants
--   SYSADMIN                 the warehouse and the databases
--   ACCOUNTADMIN             the storage integration and the resource monitor (account-level objects)
--
-- Design choice: the storage integration is created HERE, by the administrator, and the two pipeline
-- roles get USAGE on it (enough to DESC it and to create stages that use it). The alternative -
-- granting CREATE INTEGRATION ON ACCOUNT to the pipeline roles - would let them create integrations
-- that reach any bucket; and dev and prod share one integration (one bucket, one IAM role), which only
-- one role could own. Its role ARN is known before the IAM role exists (Snowflake does not check it
-- until the first read), so this script can run before the pipeline's first run.

-- 1. Roles: one per environment, and a read-only role for analysts -------------------------------
USE ROLE USERADMIN;
CREATE ROLE IF NOT EXISTS {{ dev_role }} COMMENT = 'countries pipeline: owns {{ dev_database }}';
CREATE ROLE IF NOT EXISTS {{ prod_role }} COMMENT = 'countries pipeline: owns {{ prod_database }}';
CREATE ROLE IF NOT EXISTS {{ reader_role }} COMMENT = 'countries pipeline: SELECT on MART only';
-- custom roles report to SYSADMIN, so administrators keep sight of what they own
GRANT ROLE {{ dev_role }} TO ROLE SYSADMIN;
GRANT ROLE {{ prod_role }} TO ROLE SYSADMIN;
GRANT ROLE {{ reader_role }} TO ROLE SYSADMIN;

-- 2. Compute: the smallest warehouse, suspended when idle, capped by a resource monitor ------------
USE ROLE SYSADMIN;
CREATE WAREHOUSE IF NOT EXISTS {{ warehouse }}
  WAREHOUSE_SIZE = XSMALL
  AUTO_SUSPEND = 60
  AUTO_RESUME = TRUE
  INITIALLY_SUSPENDED = TRUE;
ALTER WAREHOUSE {{ warehouse }} SET WAREHOUSE_SIZE = XSMALL AUTO_SUSPEND = 60 AUTO_RESUME = TRUE;

USE ROLE ACCOUNTADMIN;
CREATE RESOURCE MONITOR IF NOT EXISTS {{ monitor }}
  WITH CREDIT_QUOTA = {{ credit_quota }}
  FREQUENCY = MONTHLY
  START_TIMESTAMP = IMMEDIATELY
  TRIGGERS ON 80 PERCENT DO NOTIFY
           ON 100 PERCENT DO SUSPEND;
ALTER RESOURCE MONITOR {{ monitor }} SET CREDIT_QUOTA = {{ credit_quota }};
ALTER WAREHOUSE {{ warehouse }} SET RESOURCE_MONITOR = {{ monitor }};

USE ROLE SYSADMIN;
GRANT USAGE ON WAREHOUSE {{ warehouse }} TO ROLE {{ dev_role }};
GRANT USAGE ON WAREHOUSE {{ warehouse }} TO ROLE {{ prod_role }};
GRANT USAGE ON WAREHOUSE {{ warehouse }} TO ROLE {{ reader_role }};

-- 3. One database per environment, owned by that environment's role --------------------------------
-- The pipeline creates and drops the schemas inside (its teardown drops them); the databases stay
-- until sql/99_account_teardown.sql.
CREATE DATABASE IF NOT EXISTS {{ dev_database }};
CREATE DATABASE IF NOT EXISTS {{ prod_database }};
-- SECURITYADMIN holds MANAGE GRANTS, which transferring ownership to a role this session does not
-- use requires (Snowflake behaviour change 2395)
USE ROLE SECURITYADMIN;
GRANT OWNERSHIP ON DATABASE {{ dev_database }} TO ROLE {{ dev_role }} COPY CURRENT GRANTS;
GRANT OWNERSHIP ON DATABASE {{ prod_database }} TO ROLE {{ prod_role }} COPY CURRENT GRANTS;

-- 4. The storage integration: how Snowflake reaches the bucket (through an IAM role, no AWS keys) ---
-- IF NOT EXISTS + ALTER, never CREATE OR REPLACE: replacing an integration generates a new external
-- id and silently breaks the IAM role's trust policy written for the old one.
USE ROLE ACCOUNTADMIN;
CREATE STORAGE INTEGRATION IF NOT EXISTS {{ integration }}
  TYPE = EXTERNAL_STAGE
  STORAGE_PROVIDER = 'S3'
  ENABLED = TRUE
  STORAGE_AWS_ROLE_ARN = '{{ role_arn }}'
  STORAGE_ALLOWED_LOCATIONS = ('s3://{{ bucket }}/{{ data_prefix }}');
ALTER STORAGE INTEGRATION {{ integration }} SET
  STORAGE_AWS_ROLE_ARN = '{{ role_arn }}'
  STORAGE_ALLOWED_LOCATIONS = ('s3://{{ bucket }}/{{ data_prefix }}');
GRANT USAGE ON INTEGRATION {{ integration }} TO ROLE {{ dev_role }};
GRANT USAGE ON INTEGRATION {{ integration }} TO ROLE {{ prod_role }};

-- 5. The reader: USAGE on the databases; the pipeline grants USAGE and SELECT on each MART it
-- publishes (ALTER SCHEMA ... SWAP WITH swaps privileges with the schema: sql/05_publish.sql)
USE ROLE SECURITYADMIN;
GRANT USAGE ON DATABASE {{ dev_database }} TO ROLE {{ reader_role }};
GRANT USAGE ON DATABASE {{ prod_database }} TO ROLE {{ reader_role }};

-- 6. Service users, one per environment: key-pair sign-in only (TYPE = SERVICE has no password and
-- no MFA prompt); the private keys stay with you and your CI's secrets
USE ROLE USERADMIN;
CREATE USER IF NOT EXISTS {{ dev_user }}
  TYPE = SERVICE
  DEFAULT_ROLE = {{ dev_role }}
  DEFAULT_WAREHOUSE = {{ warehouse }}
  RSA_PUBLIC_KEY = '{{ dev_public_key }}';
ALTER USER {{ dev_user }} SET RSA_PUBLIC_KEY = '{{ dev_public_key }}';
CREATE USER IF NOT EXISTS {{ prod_user }}
  TYPE = SERVICE
  DEFAULT_ROLE = {{ prod_role }}
  DEFAULT_WAREHOUSE = {{ warehouse }}
  RSA_PUBLIC_KEY = '{{ prod_public_key }}';
ALTER USER {{ prod_user }} SET RSA_PUBLIC_KEY = '{{ prod_public_key }}';
USE ROLE SECURITYADMIN;
GRANT ROLE {{ dev_role }} TO USER {{ dev_user }};
GRANT ROLE {{ prod_role }} TO USER {{ prod_user }};
