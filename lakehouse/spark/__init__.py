"""The Spark session of every job: its settings, the metastore lock, a moved lake's relocation."""
