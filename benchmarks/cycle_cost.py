"""What a 5-minute cycle costs, split by step and by dbt node, and how much of it is fixed.

    .venv/bin/python -m benchmarks.cycle_cost --lake /tmp/plant --devices 10000             # the plant

Ten plants (`--devices 100000 --landed-beforehand`) do not run yet: the simulator's fleet
is the device registry seed, 10,000 devices, and it refuses a larger one.

The lake's history (one cycle) is shorter than gold's watermark delay (2 h): no window
becomes final in these cycles and silver holds only these cycles, so this is a lake's
first hours, not its steady state. `benchmarks.plant_cycles --hours 1 --cycles 1`
prints a cycle after 2 h of history.

The simulated fleet (faults on) reports every 30 s: 10,000 devices give about 100,000
events a cycle, 100,000 devices about 1,000,000. The lake gets one cycle of history and
a first build (printed, not counted), then `--cycles` cycles through the runner
(`lakehouse run`'s cycle: bronze load, `dbt build` with the run-scoped tests and no unit
tests, the run log). Each cycle's Capture files are landed just before it; with
`--landed-beforehand` (as on Azure, where Event Hubs Capture writes them) the landing is
not part of the cycle's time, otherwise the cycle is counted from land to gold.

The split into what scales with records and what is fixed comes from cycles of the same
lake with 10 devices (about 100 events): their time per step and per dbt node is the
fixed cost; the big cycle's median minus it is what its records cost. Last, a cycle with
nothing new. Every figure is a median over the cycles run.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from lakehouse.paths import PROJECT_DIR, Lake
from lakehouse.spark.metastore_lock import metastore_lock

TINY_DEVICES = 10


@dataclass
class Cycle:
    records: int
    seconds: dict[str, float] = field(default_factory=dict)  # step -> s
    nodes: dict[str, float] = field(default_factory=dict)  # node group -> s


def node_group(unique_id: str) -> str:
    """`model.<project>.silver_telemetry` -> the model's name; every data test -> its kind."""
    kind, _, rest = unique_id.partition(".")
    name = rest.split(".", 1)[1] if "." in rest else rest
    if kind == "test":
        return "data tests"
    if kind == "unit_test":
        return "unit tests"
    return name if kind == "model" else f"{kind}s"


def node_seconds(run_results: Path, since: float) -> dict[str, float]:
    """Seconds per node group of the dbt run that wrote `run_results` after `since`."""
    if not run_results.exists() or run_results.stat().st_mtime < since:
        return {}
    groups: dict[str, float] = defaultdict(float)
    results = json.loads(run_results.read_text())["results"]
    for result in results:
        groups[node_group(result["unique_id"])] += float(result["execution_time"])
    groups["(nodes run)"] = len(results)
    return dict(groups)


def run_cycle(lake: Lake, runner: object, land: Callable[[], int] | None, count_land: bool) -> Cycle:
    t0 = time.monotonic()
    records = land() if land else 0
    landing = time.monotonic() - t0
    started = time.time()
    record = runner.cycle()  # type: ignore[attr-defined]
    cycle = Cycle(records)
    cycle.seconds = dict(record.step_seconds)
    cycle.seconds["land"] = landing
    total = sum(s for name, s in record.step_seconds.items() if not name.startswith("build: "))
    cycle.seconds["cycle"] = total + (landing if count_land else 0.0)
    cycle.nodes = node_seconds(PROJECT_DIR / "target" / "run_results.json", started)
    steps = "  ".join(f"{name} {s:.1f}" for name, s in cycle.seconds.items())
    print(f"  {records:>9,} records  [{steps}]", flush=True)
    return cycle


def medians(cycles: list[Cycle], attribute: str) -> dict[str, float]:
    keys = {key for cycle in cycles for key in getattr(cycle, attribute)}
    return {key: statistics.median(getattr(c, attribute).get(key, 0.0) for c in cycles) for key in sorted(keys)}


def print_split(title: str, big: dict[str, float], tiny: dict[str, float], order: list[str]) -> None:
    print(f"\n{title:<34} {'cycle':>9} {'fixed':>9} {'scales':>9}")
    for key in order:
        whole, fixed = big.get(key, 0.0), tiny.get(key, 0.0)
        print(f"{key:<34} {whole:9.1f} {fixed:9.1f} {whole - fixed:9.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lake", type=Path, required=True, help="a fresh folder for the benchmark lake")
    parser.add_argument("--devices", type=int, default=10_000, help="devices reporting every 30 s")
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--tiny-cycles", type=int, default=2, help="cycles of 10 devices: the fixed cost")
    parser.add_argument("--landed-beforehand", action="store_true", help="leave the landing out of the cycle")
    args = parser.parse_args()

    from benchmarks.plant_cycles import CYCLE, START
    from lakehouse.operations.feeds import SimulatedFeed
    from lakehouse.operations.runner import Runner, RunnerSettings
    from lakehouse.pipeline.lake_build import build_lake

    lake = Lake.at(args.lake)
    with metastore_lock(lake.metastore):
        feed = SimulatedFeed(lake, args.devices, CYCLE, start=START, realtime=False)
        history = feed()
        t0 = time.monotonic()
        build_lake(lake, unit_tests=False)
        print(f"history: {history:,} records, first build {time.monotonic() - t0:.1f} s", flush=True)
        runner = Runner(lake, RunnerSettings(every=CYCLE, max_cycles=None, wait=False))
        runner.run_log.ensure()

        print(f"{args.cycles} cycles of {args.devices:,} devices:", flush=True)
        big = [run_cycle(lake, runner, feed, not args.landed_beforehand) for _ in range(args.cycles)]
        tiny_feed = SimulatedFeed(lake, TINY_DEVICES, CYCLE, realtime=False)
        print(f"{args.tiny_cycles} cycles of {TINY_DEVICES} devices (the fixed cost):", flush=True)
        tiny = [run_cycle(lake, runner, tiny_feed, not args.landed_beforehand) for _ in range(args.tiny_cycles)]
        print("a cycle with nothing new:", flush=True)
        empty = run_cycle(lake, runner, None, False)

    big_steps, tiny_steps = medians(big, "seconds"), medians(tiny, "seconds")
    big_nodes, tiny_nodes = medians(big, "nodes"), medians(tiny, "nodes")
    records = statistics.median(c.records for c in big)
    print(f"\n== {args.devices:,} devices: median of {len(big)} cycles, {records:,.0f} records a cycle ==")
    landing = "landed beforehand, not counted" if args.landed_beforehand else "counted from land to gold"
    print(f"cycle {big_steps['cycle']:.1f} s ({landing}); nothing new {empty.seconds['cycle']:.1f} s")
    steps = [key for key in big_steps if key != "cycle"] + ["cycle"]
    print_split("step (s)", big_steps, tiny_steps, steps)
    nodes = sorted((k for k in big_nodes if not k.startswith("(")), key=lambda k: -big_nodes[k])
    print_split("dbt node group (s, summed)", big_nodes, tiny_nodes, nodes)
    print(f"dbt nodes run a cycle: {big_nodes.get('(nodes run)', 0):.0f}")


if __name__ == "__main__":
    main()
