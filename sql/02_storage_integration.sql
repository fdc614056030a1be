-- The storage integration lets Snowflake read our bucket by assuming an IAM role, so no AWS key is
-- ever stored in Snowflake. It is an account-level object: the administrator created it in
-- sql/00_account_setup.sql and granted this role USAGE on it, which is enough to describe it and to
-- create stages that use it. The pipeline checks it points at its role and data prefix.
--
-- STORAGE_AWS_IAM_USER_ARN and STORAGE_AWS_EXTERNAL_ID go into the IAM role's trust policy.
DESC INTEGRATION {{ integration }};
