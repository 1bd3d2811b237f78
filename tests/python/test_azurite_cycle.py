"""The Azurite cycle benchmark's request counting (benchmarks/azurite_cycle.py), without
Spark or a server: `data/azurite_debug.log` is what Azurite 3.35 wrote with `--debug`
while the Python SDK (azure-storage-blob 12.31) created a container, uploaded two blobs
(one create-only), listed by folder and flat, read a blob's properties and bytes, asked
for a blob that does not exist, deleted one and took and released a lease (only the
lines the parser reads are kept; the SharedKey signatures are redacted)."""

from __future__ import annotations

import itertools
from pathlib import Path

from benchmarks.azurite_cycle import (
    StepMark,
    client_of,
    count_requests,
    operation_kind,
    parse_debug_log,
    per_cycle,
    report,
)

SAMPLE = Path(__file__).parent / "data" / "azurite_debug.log"


def _requests() -> list:
    return list(parse_debug_log(SAMPLE.read_text().splitlines()))


def test_every_request_of_the_sample_is_parsed_with_its_operation_status_and_client() -> None:
    requests = _requests()
    assert [(r.method, r.operation, r.status) for r in requests] == [
        ("PUT", "Container_Create", 201),
        ("PUT", "BlockBlob_Upload", 201),
        ("PUT", "BlockBlob_Upload", 201),
        ("GET", "Container_ListBlobHierarchySegment", 200),
        ("GET", "Container_ListBlobFlatSegment", 200),
        ("HEAD", "Blob_GetProperties", 200),
        ("GET", "Blob_Download", 206),
        ("HEAD", "Blob_GetProperties", 404),
        ("DELETE", "Blob_Delete", 202),
        ("PUT", "Blob_AcquireLease", 201),
        ("PUT", "Blob_ReleaseLease", 200),
    ]
    assert {r.client for r in requests} == {"python"}
    assert [r.kind for r in requests].count("listing") == 2
    assert [r.kind for r in requests].count("read") == 3  # properties, download, the missing blob's properties
    assert [r.kind for r in requests].count("write") == 4  # container, two uploads, the delete
    assert [r.kind for r in requests].count("lease") == 2
    assert all(a.at <= b.at for a, b in itertools.pairwise(requests))


def test_a_request_cut_off_by_the_end_of_the_log_is_left_out() -> None:
    lines = SAMPLE.read_text().splitlines()
    last_end = max(i for i, line in enumerate(lines) if "EndMiddleware" in line)
    assert len(list(parse_debug_log(lines[:last_end]))) == len(_requests()) - 1


def test_operations_and_clients_are_classified_by_name() -> None:
    assert operation_kind("BlockBlob_StageBlock") == "write"
    assert operation_kind("BlockBlob_CommitBlockList") == "write"
    assert operation_kind("BlockBlob_GetBlockList") == "read"
    assert operation_kind("Blob_StartCopyFromURL") == "write"
    assert operation_kind("Blob_RenewLease") == "lease"
    assert operation_kind("unknown") == "other"
    # hadoop-azure's WASB driver sends through the Azure-Storage Java SDK (its user agent
    # as hadoop-azure 3.4 builds it; no Spark request is in the sample).
    assert client_of("WASB/3.4.1 (unknown) Azure-Storage/7.0.1 (JavaJRE 17.0.13; Linux 6.1)") == "spark"
    assert client_of("Azure Blob FS/3.4.1 (JavaJRE 17.0.13; Linux 6.1)") == "spark"
    assert client_of("azsdk-python-storage-blob/12.31.1 Python/3.11.7") == "python"
    assert client_of("object_store/0.12.3") == "delta-rs"
    assert client_of("curl/8.5") == "other"


def test_requests_are_counted_per_cycle_and_step_by_their_arrival() -> None:
    requests = _requests()
    first, split, last = requests[0].at, requests[4].at, requests[-1].at + 1
    marks = [
        StepMark(1, "land", first, split),  # the container and the uploads, the folder listing
        StepMark(1, "load-bronze", split, last),
        StepMark(2, "land", last, last + 10),
    ]
    counts = count_requests(requests, marks)
    assert counts[(1, "land")]["total"] == 4 and counts[(1, "land")]["write"] == 3
    assert counts[(1, "land")]["listing"] == 1
    assert counts[(1, "load-bronze")]["total"] == 7 and counts[(1, "load-bronze")]["client:python"] == 7
    assert (2, "land") not in counts
    cycles = per_cycle(counts)
    assert list(cycles) == [1] and cycles[1]["total"] == 11
    # Requests outside every step are kept apart, not lost.
    outside = count_requests(requests, marks[1:])
    assert outside[(0, "between steps")]["total"] == 4


def test_the_side_by_side_report_prints_every_section() -> None:
    requests = _requests()
    t0 = requests[0].at
    marks = [
        {"cycle": 1, "step": step, "start": t0 + i, "end": t0 + i + 1}
        for i, step in enumerate(("land", "load-bronze", "dbt build"))
    ]
    shifted = [type(r)(**{**r.__dict__, "at": t0 + 0.5}) for r in requests]
    local = {"marks": marks, "records": [100_000], "files": {"silver/silver_telemetry": [2, 3]}}
    azurite = {"marks": marks, "records": [100_000], "files": {"silver/silver_telemetry": [2, 3]}}
    lines = report(local, azurite, shifted)
    text = "\n".join(lines)
    assert "seconds per step" in text and "storage requests per cycle" in text and "files per table" in text
    assert any(line.split() == ["total", "-", "11"] for line in lines)
    assert any("silver/silver_telemetry" in line and "2 + 3" in line for line in lines)
