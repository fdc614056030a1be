-- Account teardown: what sql/00_account_setup.sql created, run by an administrator after the
-- pipeline's own teardown (`python -m helpers teardown`, which drops the schemas it made). Users
-- first (nothing can sign in), then what they used, then the roles.
USE ROLE USERADMIN;
DROP USER IF EXISTS {{ dev_user }};
DROP USER IF EXISTS {{ prod_user }};

USE ROLE ACCOUNTADMIN;
DROP STORAGE INTEGRATION IF EXISTS {{ integration }};
DROP DATABASE IF EXISTS {{ dev_database }};
DROP DATABASE IF EXISTS {{ prod_database }};
DROP WAREHOUSE IF EXISTS {{ warehouse }};
DROP RESOURCE MONITOR IF EXISTS {{ monitor }};

USE ROLE USERADMIN;
DROP ROLE IF EXISTS {{ reader_role }};
DROP ROLE IF EXISTS {{ prod_role }};
DROP ROLE IF EXISTS {{ dev_role }};
