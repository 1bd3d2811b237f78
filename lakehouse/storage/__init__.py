"""Where a lake's files live and how every layer reaches them.

- `location`: the lake's URL (a local folder, `wasb[s]://`, `abfs[s]://`, a Databricks
  volume path), parsed once, joined for every table, state document and Capture file.
- `credentials`: how the process authenticates to Azure storage (identity first; an
  account key or SAS only when configured), never shown in a repr or a log.
- `files`: the one seam for file operations on the lake outside Spark (list, read,
  create-only write, move, state documents, a lock), local or Blob API.
- `hadoop`: the same location and credentials as Spark's Hadoop settings.
"""
