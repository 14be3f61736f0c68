-- MLflow keeps its own schema (and its own migrations) in a database of its own, on the same
-- server as the portal's. Runs once, when the PostgreSQL data folder is first created.
CREATE DATABASE mlflow;
