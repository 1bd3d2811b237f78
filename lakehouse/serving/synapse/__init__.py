"""Gold to Synapse serverless SQL: views over the Delta folders, from the dbt contracts."""
