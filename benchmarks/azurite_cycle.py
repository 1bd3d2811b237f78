"""The plant's 5-minute cycle on a lake in Azurite beside the same cycle on a local lake.

    .venv/bin/python benchmarks/azurite_cycle.py --cycles 3

10,000 devices every 30 s (100 k events per 5-minute cycle), faults on. For each lake,
in a process of its own (a process's Spark session belongs to one lake), one after the
other (never two JVMs at once): N cycles of land (the simulated feed), load-bronze and
`dbt build` (run-scoped tests, no unit tests, as the runner builds). Prints, side by
side: seconds per step (median over the cycles), storage requests per cycle on the
Azurite lake (listings, reads, writes, leases, by client: Spark's hadoop-azure, the
Python SDK, delta-rs) and per cycle, so a count that grows with history shows; and the
files per table after the N cycles (data files and Delta log files, listed through the
Blob API on the Azurite lake, the folder on the local one).

Azurite is started here, on 127.0.0.1:10000 (Hadoop's WASB emulator mode connects
there; the port must be free), with `--debug <file>`: its debug log names every
request's operation (`DispatchMiddleware: Operation=Blob_Download`), its status and its
client's user agent. That log is the one place Spark's own WASB requests can be
counted; `parse_debug_log` reads it and `count_requests` buckets the requests by the
steps' wall-clock marks each cycle process records (`tests/python/test_azurite_cycle.py`
checks both on a log Azurite wrote).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as a script: the repository on the path, as `-m benchmarks.azurite_cycle`
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from benchmarks.plant_cycles import CYCLE, START
from lakehouse.paths import PROJECT_DIR, Lake

EMULATOR_PORT = 10000  # fixed by Hadoop's WASB emulator mode
AZURITE_LAKE = "wasb://bench@devstoreaccount1/lake"
STEPS = ("land", "load-bronze", "dbt build")
LAYERS = ("bronze", "silver", "gold", "reference", "snapshots", "ops")

# ----------------------------------------------------------------------------- Azurite's debug log

_LINE = re.compile(r"^(?P<ts>\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d+Z) (?P<id>[0-9a-f-]{36}) \w+: (?P<text>.*)$")
_REQUEST = re.compile(r"BlobStorageContextMiddleware: RequestMethod=(?P<method>\S+) RequestURL=(?P<url>\S+)")
_AGENT = re.compile(r'"user-agent":"(?P<agent>[^"]*)"')
_OPERATION = re.compile(r"DispatchMiddleware: Operation=(?P<operation>\w+)")
_END = re.compile(r"EndMiddleware: End response\. TotalTimeInMS=\d+ StatusCode=(?P<status>\d+)")

# Operations by what they cost on object storage; anything else is classified by its name.
LISTINGS = {"Container_ListBlobFlatSegment", "Container_ListBlobHierarchySegment", "Service_ListContainersSegment"}
READS = {"Blob_Download", "Blob_GetProperties", "BlockBlob_GetBlockList", "Container_GetProperties", "Blob_GetTags"}
LEASES = {"Blob_AcquireLease", "Blob_RenewLease", "Blob_ReleaseLease", "Blob_BreakLease", "Blob_ChangeLease"}


@dataclass(frozen=True)
class Request:
    """One request Azurite served: when it arrived, from which client, what it did."""

    at: float  # seconds since the epoch (UTC), when Azurite received it
    method: str
    url: str
    agent: str
    operation: str
    status: int

    @property
    def kind(self) -> str:
        return operation_kind(self.operation)

    @property
    def client(self) -> str:
        return client_of(self.agent)


def operation_kind(operation: str) -> str:
    """`listing`, `read`, `write`, `lease` (or `other` for an unknown operation name)."""
    if operation in LISTINGS or "_List" in operation:
        return "listing"
    if operation in LEASES or operation.endswith("Lease"):
        return "lease"
    if operation in READS or "_Get" in operation or operation.endswith("Download"):
        return "read"
    if operation and operation != "unknown":
        return "write"  # uploads, blocks, commits, copies, deletes, metadata, container creation
    return "other"


def client_of(agent: str) -> str:
    """Which client sent a request, from its user agent: `spark` (hadoop-azure: WASB's
    Azure-Storage Java SDK, or ABFS), `python` (azure-storage-blob), `delta-rs`
    (object_store), else `other`."""
    if "azsdk-python" in agent:
        return "python"
    if "object_store" in agent:
        return "delta-rs"
    if any(mark in agent for mark in ("WASB/", "Azure-Storage/", "JavaJRE", "Azure Blob FS")):
        return "spark"
    return "other"


def _epoch(timestamp: str) -> float:
    return datetime.fromisoformat(timestamp.replace("Z", "+00:00")).timestamp()


def parse_debug_log(lines: Iterable[str]) -> Iterator[Request]:
    """The requests of an Azurite `--debug` log, in the order they ended (a request's
    lines share its request id; a request still open at the end is left out)."""
    open_requests: dict[str, dict[str, Any]] = {}
    for line in lines:
        found = _LINE.match(line.rstrip("\n"))
        if not found:
            continue
        request_id, text = found["id"], found["text"]
        if started := _REQUEST.match(text):
            agent = _AGENT.search(text)
            open_requests[request_id] = {
                "at": _epoch(found["ts"]),
                "method": started["method"],
                "url": started["url"],
                "agent": agent["agent"] if agent else "",
                "operation": "unknown",
            }
        elif (operation := _OPERATION.match(text)) and request_id in open_requests:
            open_requests[request_id]["operation"] = operation["operation"]
        elif (ended := _END.match(text)) and request_id in open_requests:
            yield Request(**open_requests.pop(request_id), status=int(ended["status"]))


@dataclass(frozen=True)
class StepMark:
    """One step of one cycle, by wall-clock time (seconds since the epoch)."""

    cycle: int
    step: str
    start: float
    end: float


def count_requests(requests: Iterable[Request], marks: list[StepMark]) -> dict[tuple[int, str], Counter[str]]:
    """Requests per (cycle, step), counted by kind (`listing`, ...), by client
    (`client:spark`, ...) and in all (`total`); requests outside every step are under
    (0, "between steps")."""
    ordered = sorted(marks, key=lambda m: m.start)
    counts: dict[tuple[int, str], Counter[str]] = {}
    for request in requests:
        mark = next((m for m in ordered if m.start <= request.at < m.end), None)
        key = (mark.cycle, mark.step) if mark else (0, "between steps")
        bucket = counts.setdefault(key, Counter())
        bucket[request.kind] += 1
        bucket[f"client:{request.client}"] += 1
        bucket["total"] += 1
    return counts


def per_cycle(counts: dict[tuple[int, str], Counter[str]]) -> dict[int, Counter[str]]:
    """The counts of every step of a cycle added up, per cycle (cycle 0 left out)."""
    cycles: dict[int, Counter[str]] = {}
    for (cycle, _step), bucket in counts.items():
        if cycle:
            cycles.setdefault(cycle, Counter()).update(bucket)
    return dict(sorted(cycles.items()))


# ----------------------------------------------------------------------------- Azurite, with --debug


def start_azurite(location: Path, debug_log: Path, port: int = EMULATOR_PORT) -> subprocess.Popen[bytes]:
    """Azurite's Blob service on 127.0.0.1:`port` writing its debug log; waits until it answers."""
    from tests.python.azure.azurite import AZURITE_BIN, Azurite

    server = Azurite(location, port=port)
    if server.answers():
        raise SystemExit(f"something answers on 127.0.0.1:{port} already: stop it (or `lakehouse azurite stop`)")
    location.mkdir(parents=True, exist_ok=True)
    with open(location / "azurite.log", "ab") as output:
        process = subprocess.Popen(
            [
                *(str(AZURITE_BIN), "--blobHost", "127.0.0.1", "--blobPort", str(port)),
                *("--location", str(location), "--skipApiVersionCheck", "--loose", "--disableTelemetry"),
                *("--debug", str(debug_log)),
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            cwd=location,
        )
    deadline = time.monotonic() + 30
    while not server.answers():
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise SystemExit(f"Azurite did not start; see {location / 'azurite.log'}")
        time.sleep(0.2)
    return process


def stop_azurite(process: subprocess.Popen[bytes]) -> None:
    process.terminate()  # SIGTERM: Azurite flushes its log and metadata
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


# ----------------------------------------------------------------------------- one lake's cycles


def files_per_table(lake: Lake) -> dict[str, tuple[int, int]]:
    """(data files, Delta log files) per table folder `<layer>/<table>`, listed through
    the lake's storage seam (the Blob API for a lake in Azurite)."""
    found: dict[str, tuple[int, int]] = {}
    for layer in LAYERS:
        for table in lake.files.listing(layer).folders:
            key = f"{layer}/{table}"
            data = len(lake.files.walk(key))  # hidden names (_delta_log) left out, as Spark lists
            found[key] = (data, _delta_log_files(lake, key))
    return found


def _delta_log_files(lake: Lake, key: str) -> int:
    if lake.is_local:
        return sum(1 for p in (Path(lake.location.path) / key / "_delta_log").rglob("*") if p.is_file())
    container = lake.files.container  # type: ignore[attr-defined]
    return sum(1 for _ in container.list_blobs(name_starts_with=f"{lake.location.blob_name(key)}/_delta_log/"))


def run_side(lake_root: str, devices: int, cycles: int, out: Path) -> None:
    """The child process: `cycles` cycles on `lake_root`; marks, seconds and files to `out` (JSON)."""
    local_dir = os.environ.get("LAKEHOUSE_LOCAL_DIR")
    lake = Lake.at(lake_root, local=Path(local_dir) if local_dir else None)
    os.environ.update(lake.env())
    from lakehouse.operations.feeds import SimulatedFeed
    from lakehouse.pipeline import lake_build
    from lakehouse.spark.metastore_lock import lake_lock
    from lakehouse.spark.session import spark_session

    marks: list[dict[str, Any]] = []
    bronze_ended: list[float] = []

    class MarkedLoader(lake_build.BronzeLoader):
        """The build's bronze load, with the moment it ends (the step boundary)."""

        def load_new_files(self, **kw: Any) -> Any:
            try:
                return super().load_new_files(**kw)
            finally:
                bronze_ended.append(time.time())

    lake_build.BronzeLoader = MarkedLoader  # type: ignore[misc]
    lake.files.ensure()
    feed = SimulatedFeed(lake, devices, CYCLE, start=START, realtime=False)
    records: list[int] = []
    with lake_lock(lake):
        spark_session(lake)
        for cycle in range(1, cycles + 1):
            t0 = time.time()
            records.append(feed())
            t1 = time.time()
            lake_build.build_lake(lake, unit_tests=False)
            t3 = time.time()
            t2 = bronze_ended[-1]
            for step, start, end in zip(STEPS, (t0, t1, t2), (t1, t2, t3), strict=True):
                marks.append({"cycle": cycle, "step": step, "start": start, "end": end})
            print(f"{lake.root}: cycle {cycle}: {records[-1]:,} records, {t3 - t0:.1f} s", flush=True)
    out.write_text(json.dumps({"marks": marks, "records": records, "files": files_per_table(lake)}))


# ----------------------------------------------------------------------------- side by side


def _median_seconds(marks: list[StepMark], step: str) -> float:
    return statistics.median(m.end - m.start for m in marks if m.step == step)


def report(local: dict[str, Any], azurite: dict[str, Any], requests: list[Request]) -> list[str]:
    """The side-by-side table (lines to print)."""
    local_marks = [StepMark(**m) for m in local["marks"]]
    azurite_marks = [StepMark(**m) for m in azurite["marks"]]
    lines = [f"{'':<34}{'local lake':>14}{'Azurite lake':>14}", "seconds per step (median over the cycles)"]
    for step in STEPS:
        lines.append(
            f"  {step:<32}{_median_seconds(local_marks, step):>14.1f}{_median_seconds(azurite_marks, step):>14.1f}"
        )
    counts = count_requests(requests, azurite_marks)
    cycles = per_cycle(counts)
    lines.append("storage requests per cycle (median; Azurite's debug log)")
    keys = sorted(
        {k for bucket in cycles.values() for k in bucket}, key=lambda k: (k.startswith("client:"), k == "total", k)
    )
    for key in keys:
        median = statistics.median(bucket[key] for bucket in cycles.values())
        lines.append(f"  {key:<32}{'-':>14}{median:>14,.0f}")
    for step in STEPS:
        median = statistics.median(counts.get((c, step), Counter())["total"] for c in cycles)
        lines.append(f"  {'total in ' + step:<32}{'-':>14}{median:>14,.0f}")
    lines.append("storage requests, cycle by cycle (must not grow with history)")
    for cycle, bucket in cycles.items():
        kinds = ", ".join(f"{k} {bucket[k]:,}" for k in ("listing", "read", "write", "lease") if bucket[k])
        lines.append(f"  cycle {cycle:<26}{'-':>14}{bucket['total']:>14,}  ({kinds})")
    outside = counts.get((0, "between steps"), Counter())["total"]
    lines.append(f"  {'outside the steps':<32}{'-':>14}{outside:>14,}")
    lines.append(f"files per table after {len(cycles)} cycles (data files + Delta log files)")
    for table in sorted(set(local["files"]) | set(azurite["files"])):
        here, there = local["files"].get(table, (0, 0)), azurite["files"].get(table, (0, 0))
        lines.append(f"  {table:<32}{f'{here[0]} + {here[1]}':>14}{f'{there[0]} + {there[1]}':>14}")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cycles", type=int, default=3)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--work", type=Path, help="a folder for both lakes and Azurite (default: a fresh temp folder)")
    parser.add_argument("--side", help=argparse.SUPPRESS)  # the child process: run one lake's cycles
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.side:
        run_side(args.side, args.devices, args.cycles, args.out)
        return

    work = args.work or Path(tempfile.mkdtemp(prefix="azurite-cycle-"))
    work.mkdir(parents=True, exist_ok=True)
    debug_log = work / "azurite-debug.log"
    results: dict[str, dict[str, Any]] = {}

    def side(name: str, root: str, local_dir: Path | None = None) -> None:
        out = work / f"{name}.json"
        env = {**os.environ, **({"LAKEHOUSE_LOCAL_DIR": str(local_dir)} if local_dir else {})}
        command = [sys.executable, str(Path(__file__).resolve()), "--side", root, "--out", str(out)]
        command += ["--cycles", str(args.cycles), "--devices", str(args.devices)]
        subprocess.run(command, check=True, env=env, cwd=PROJECT_DIR)
        results[name] = json.loads(out.read_text())

    side("local", str(work / "local-lake"))
    azurite = start_azurite(work / "azurite", debug_log)
    try:
        side("azurite", AZURITE_LAKE, local_dir=work / "azurite-lake-local")
    finally:
        stop_azurite(azurite)
    with open(debug_log, errors="replace") as log:
        requests = list(parse_debug_log(log))
    print(f"\n== the plant's 5-minute cycle, {args.devices:,} devices, {args.cycles} cycles (work folder {work}) ==")
    for line in report(results["local"], results["azurite"], requests):
        print(line)


if __name__ == "__main__":
    main()
