"""The Spark session of every job (local, on the cluster engine, or Databricks'),
the metastore lock, and a moved lake's relocation."""
