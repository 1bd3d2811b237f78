"""A bronze loader on a lake in Blob storage, driven one JSON command a line on stdin,
for tests whose own process's Spark session belongs to the session's local lake (a
process has one Spark session, for one lake).

    python -m tests.python.azure.bronze_on_blob_worker <lake URL> <local side folder>

Commands: `{"do": "load", "full_sweep": false}`, `{"do": "replay", "start": iso,
"end": iso}`, `{"do": "keys"}` (bronze's record keys, sorted), `{"do": "sql",
"statement": ...}`, `{"do": "stop"}`. Each answer is one line on stdout starting
with `ANSWER_PREFIX`: the report as JSON, or `{"error": <traceback>}`.
"""

from __future__ import annotations

import json
import sys
import traceback
from dataclasses import asdict
from datetime import datetime
from pathlib import Path
from typing import Any

ANSWER_PREFIX = "@@bronze-on-blob@@ "


def main() -> None:
    from lakehouse.paths import Lake
    from lakehouse.pipeline.bronze_load import BRONZE_TABLE, BronzeLoader, BronzeLoadReport
    from lakehouse.spark.metastore_lock import metastore_lock
    from lakehouse.spark.session import spark_session

    lake = Lake.at(sys.argv[1], local=Path(sys.argv[2]))

    def report(done: BronzeLoadReport) -> dict[str, Any]:
        answer = asdict(done)
        answer["bad_files"] = [asdict(bad) for bad in done.bad_files]
        answer["max_enqueued_at"] = done.max_enqueued_at.isoformat() if done.max_enqueued_at else None
        return answer

    def answer(document: dict[str, Any]) -> None:
        print(ANSWER_PREFIX + json.dumps(document, default=str), flush=True)

    with metastore_lock(lake.metastore):
        spark = spark_session(lake)
        answer({"started": lake.root})
        for line in sys.stdin:
            command = json.loads(line)
            try:
                if command["do"] == "stop":
                    answer({"stopped": True})
                    return
                if command["do"] == "load":
                    answer(
                        report(BronzeLoader(spark, lake).load_new_files(full_sweep=command.get("full_sweep", False)))
                    )
                elif command["do"] == "replay":
                    start, end = (datetime.fromisoformat(command[k]) for k in ("start", "end"))
                    answer(report(BronzeLoader(spark, lake).replay(start, end)))
                elif command["do"] == "keys":
                    rows = spark.sql(f"select capture_record_id, capture_file_path from {BRONZE_TABLE}").collect()
                    answer(
                        {
                            "keys": sorted(r.capture_record_id for r in rows),
                            "files": sorted({r.capture_file_path for r in rows}),
                        }
                    )
                elif command["do"] == "sql":
                    answer({"rows": [list(r) for r in spark.sql(command["statement"]).collect()]})
                else:
                    answer({"error": f"unknown command {command!r}"})
            except Exception:  # noqa: BLE001 - the test shows it
                answer({"error": traceback.format_exc()})


if __name__ == "__main__":
    main()
