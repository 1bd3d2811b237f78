"""An analytics engineer's loop: edit one gold model, see it and its tests rebuilt.

    .venv/bin/python -m benchmarks.model_loop --lake /tmp/demo-lake [--runs 3]

The lake must hold the demo (`bin/lakehouse --lake /tmp/demo-lake demo`). Works on a
copy of the project in a temporary folder (so the edits and dbt's target/ stay
there), as a user runs it, in fresh processes with the user's environment:

- cold: each run saves an edit of the model, then runs the command a user types,
  `lakehouse --lake L dbt build -s MODEL --full-refresh` (Python, dbt, Spark's start,
  parse, the model and its tests), timed from start to exit;
- warm: `lakehouse --lake L dev -s MODEL --full-refresh` runs once; each run saves an
  edit and is timed from the save to the end of the rebuild it starts.

`--target cluster` runs both on the lake's engine (started beforehand with
`lakehouse --lake L engine start`; the demo's tables are registered in the engine's
metastore first): the commands then start no Spark of their own.

Prints every run and the medians side by side, with the split the commands report
(dbt's own seconds from run_results.json for the cold command; parse, bronze and
build for the warm one).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.python.lake_helpers import release

MODEL = "gold_site_metrics_1h"


TARGET = {"target": "local"}  # the dbt target both loops use (--target)


def user_env(checkout: Path) -> dict[str, str]:
    """The machine's environment without the project's variables, running `checkout`'s code
    on the dbt target asked for."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "DBT_"))}
    return {**clean, "PYTHONPATH": str(checkout), "PYTHONUNBUFFERED": "1", "DBT_TARGET": TARGET["target"]}


def save_edit(model_file: Path, run: str) -> None:
    """An edit that changes the file, not the rows (a comment at its end)."""
    with open(model_file, "a") as out:
        out.write(f"\n-- edited: {run}\n")


def register_tables(checkout: Path, lake: str) -> None:
    """The lake's tables in the engine's metastore (a lake the local target built has them in its own)."""
    script = (
        "import sys; from lakehouse.paths import Lake; from lakehouse.spark.session import spark_session; "
        "from lakehouse.spark.relocation import register_lake_tables; lake = Lake.at(sys.argv[1]); "
        "register_lake_tables(spark_session(lake), lake)"
    )
    subprocess.run([sys.executable, "-c", script, lake], cwd=checkout, env=user_env(checkout), check=True)


def cold(checkout: Path, lake: str, model: str, runs: int) -> list[tuple[float, float]]:
    """(seconds from start to exit, dbt's own elapsed seconds) per run."""
    model_file = checkout / "models" / "gold" / f"{model}.sql"
    times = []
    for run in range(runs):
        save_edit(model_file, f"cold {run}")
        t0 = time.monotonic()
        done = subprocess.run(
            [sys.executable, "-m", "lakehouse.cli.main", "--lake", lake, "dbt", "build", "-s", model, "--full-refresh"],
            cwd=checkout,
            env=user_env(checkout),
            capture_output=True,
            text=True,
            check=False,
        )
        total = time.monotonic() - t0
        if done.returncode != 0:
            raise SystemExit(f"the cold command failed:\n{(done.stdout + done.stderr)[-3000:]}")
        dbt = json.loads((checkout / "target" / "run_results.json").read_text())["elapsed_time"]
        times.append((total, dbt))
        print(f"cold run {run + 1}: {total:5.1f} s  (dbt build's own {dbt:4.1f} s)", flush=True)
    return times


def warm(checkout: Path, lake: str, model: str, runs: int) -> tuple[float, list[tuple[float, str]]]:
    """(seconds to the first build's end, [(seconds from a save to its rebuild's end, the rebuild's line)])."""
    model_file = checkout / "models" / "gold" / f"{model}.sql"
    t0 = time.monotonic()
    dev = subprocess.Popen(
        [sys.executable, "-m", "lakehouse.cli.main", "--lake", lake, "dev", "-s", model, "--full-refresh"],
        cwd=checkout,
        env=user_env(checkout),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert dev.stdout is not None
    output: list[str] = []

    def until(prefix: str) -> str:
        for line in dev.stdout:  # type: ignore[union-attr]
            output.append(line)
            if line.startswith(prefix):
                return line.strip()
        raise SystemExit("`lakehouse dev` ended:\n" + "".join(output[-60:]))

    try:
        until("watching")
        first = time.monotonic() - t0
        print(f"warm: the dev loop's first build done {first:.1f} s after its start", flush=True)
        times = []
        for run in range(runs):
            time.sleep(1.0)
            save_edit(model_file, f"warm {run}")
            t1 = time.monotonic()
            line = until("build ")
            seconds = time.monotonic() - t1
            if "FAILED" in line:
                raise SystemExit("a warm rebuild failed:\n" + "".join(output[-60:]))
            times.append((seconds, line))
            print(f"warm run {run + 1}: {seconds:5.1f} s  ({line})", flush=True)
            until("watching")
    finally:
        dev.send_signal(signal.SIGINT)
        try:
            dev.wait(timeout=60)
        except subprocess.TimeoutExpired:
            dev.kill()
    return first, times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", required=True, help="a lake the demo built")
    parser.add_argument("--model", default=MODEL)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--target",
        choices=["local", "cluster"],
        default="local",
        help="cluster: on the lake's running engine (`lakehouse --lake L engine start`)",
    )
    options = parser.parse_args()
    TARGET["target"] = options.target
    with tempfile.TemporaryDirectory(prefix="model-loop-") as scratch:
        checkout = release(Path(scratch) / "project")
        if options.target == "cluster":
            register_tables(checkout, options.lake)
        cold_times = cold(checkout, options.lake, options.model, options.runs)
        first, warm_times = warm(checkout, options.lake, options.model, options.runs)
    cold_median = statistics.median(t for t, _ in cold_times)
    dbt_median = statistics.median(d for _, d in cold_times)
    warm_median = statistics.median(t for t, _ in warm_times)
    print()
    print(f"rebuild {options.model} and its tests after an edit, target {options.target}", end="")
    print(f" ({options.runs} runs each, medians):")
    print(f"  {'':<44}{'seconds':>8}")
    print(f"  {'cold: lakehouse dbt build -s M --full-refresh':<44}{cold_median:8.1f}  (dbt's own {dbt_median:.1f})")
    print(f"  {'warm: lakehouse dev -s M --full-refresh':<44}{warm_median:8.1f}  (first build {first:.1f})")
    print(f"  warm / cold: {warm_median / cold_median:.2f}")


if __name__ == "__main__":
    main()
