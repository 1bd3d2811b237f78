"""The dbt docs site as a person reads it.

After a build of the test lake, `dbt docs generate` must give a catalog with every
model, seed, snapshot and source typed, with the types the yml contracts declare
(read here from the yml files themselves) and the table statistics Delta keeps; the
descriptions must be in the Delta tables as comments (persist_docs). Then the site is
served on 127.0.0.1 and opened in headless Chromium (Playwright driving the system's
Chromium): a gold model's page shows its column types, and the lineage graph runs from
the bronze source through silver and gold to the exposures.
"""

from __future__ import annotations

import functools
import itertools
import json
import logging
import os
import shutil
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakehouse.paths import PROJECT_DIR, Lake
from tests.python.lake_helpers import land_simulation

pytestmark = pytest.mark.spark
log = logging.getLogger(__name__)
PROJECT = yaml.safe_load((PROJECT_DIR / "dbt_project.yml").read_text())["name"]
GOLD_MODEL = "gold_site_metrics_1h"
DOCUMENTED = ("model", "seed", "snapshot", "source")


def _yml_files() -> list[Path]:
    return sorted(p for folder in ("models", "seeds", "snapshots") for p in (PROJECT_DIR / folder).rglob("*.yml"))


def _declared() -> dict[str, dict[str, dict[str, Any]]]:
    """From the yml files, not the manifest: unique id -> column -> its yml entry (with
    `data_type` for contracted models; seeds' `column_types` as `data_type`)."""
    declared: dict[str, dict[str, dict[str, Any]]] = {}
    for path in _yml_files():
        doc = yaml.safe_load(path.read_text()) or {}
        for kind in ("models", "seeds", "snapshots"):
            for node in doc.get(kind, []):
                columns = {c["name"]: dict(c) for c in node.get("columns", [])}
                for name, kind_ in (node.get("config") or {}).get("column_types", {}).items():
                    columns.setdefault(name, {"name": name})["data_type"] = kind_
                declared[f"{kind[:-1]}.{PROJECT}.{node['name']}"] = columns
        for source in doc.get("sources", []):
            for table in source.get("tables", []):
                declared[f"source.{PROJECT}.{source['name']}.{table['name']}"] = {
                    c["name"]: dict(c) for c in table.get("columns", [])
                }
    return declared


def _expected_nodes() -> set[str]:
    """Every model, seed, snapshot and source the project's files define."""
    models = {f"model.{PROJECT}.{p.stem}" for p in (PROJECT_DIR / "models").rglob("*.sql")}
    seeds = {f"seed.{PROJECT}.{p.stem}" for p in (PROJECT_DIR / "seeds").glob("*.csv")}
    others = {uid for uid in _declared() if uid.startswith(("snapshot.", "source."))}
    return models | seeds | others


def _yml_model(name: str) -> dict[str, Any]:
    for path in (PROJECT_DIR / "models").rglob("*.yml"):
        for node in (yaml.safe_load(path.read_text()) or {}).get("models", []):
            if node["name"] == name:
                return node
    raise AssertionError(f"{name} is not in any yml under models/")


@pytest.fixture(scope="module")
def docs_target(lake: Lake, spark: Any, run_dbt: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The docs site generated after a build with a little data of its own."""
    from lakehouse.pipeline.dbt_runner import run_dbt as invoke

    land_simulation(
        lake, hub="docs-site", start=datetime(2026, 7, 1, 6, tzinfo=UTC), duration=timedelta(minutes=10), devices=3
    )
    # Every seed, snapshot and model, no tests; the seed and snapshot only when their files
    # changed since the lake's last build of them (build_lake leaves them out otherwise).
    run_dbt("build", "--exclude-resource-type", "test", "unit_test")
    target = tmp_path_factory.mktemp("docs-site")
    # A temporary view left in the session (as incremental models and Python jobs leave
    # them): dbt-spark's catalog listed it with no schema and failed, until run_dbt dropped them.
    spark.range(1).createOrReplaceTempView("left_by_an_earlier_command")
    t0 = time.monotonic()
    # parse (it writes manifest.json) and generate --no-compile: the site lacks only the
    # compiled SQL tab (the build compiled it just now); catalog and lineage are the same.
    invoke(["parse"], lake, target_path=str(target))
    invoke(["docs", "generate", "--no-compile"], lake, target_path=str(target))
    log.info("dbt docs generate: %.1f s", time.monotonic() - t0)
    return target


def _artifacts(target: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    return (json.loads((target / "manifest.json").read_text()), json.loads((target / "catalog.json").read_text()))


def test_catalog_types_every_node_as_the_contracts_declare(docs_target: Path) -> None:
    manifest, catalog = _artifacts(docs_target)
    assert catalog["errors"] is None, catalog["errors"]
    nodes = {
        uid: n for uid, n in {**manifest["nodes"], **manifest["sources"]}.items() if n["resource_type"] in DOCUMENTED
    }
    assert set(nodes) == _expected_nodes()

    untyped, missing, wrong, absent = {}, [], {}, {}
    for uid, node in nodes.items():
        entry = catalog["sources" if node["resource_type"] == "source" else "nodes"].get(uid)
        if not entry or not entry["columns"]:
            missing.append(uid)
            continue
        types = {name.lower(): column["type"] for name, column in entry["columns"].items()}
        untyped.update({f"{uid}.{name}": kind for name, kind in types.items() if not kind})
        for name, column in _declared().get(uid, {}).items():
            if name.lower() not in types:
                absent[uid] = [*absent.get(uid, []), name]
            elif "data_type" in column and types[name.lower()].lower() != str(column["data_type"]).lower():
                wrong[f"{uid}.{name}"] = (types[name.lower()], column["data_type"])
    assert not missing, f"no catalog entry with columns: {missing}"
    assert not untyped, untyped
    assert not absent, f"documented columns not in the table: {absent}"
    assert not wrong, f"catalog type != yml data_type: {wrong}"
    contracted = sum("data_type" in c for cols in _declared().values() for c in cols.values())
    assert contracted > 50  # the check above compared real contracts


def test_catalog_has_delta_statistics(docs_target: Path) -> None:
    """Rows, bytes, files and the Delta version, checked against delta-rs reading the
    table's own folder (not Spark, which the catalog used)."""
    import pyarrow as pa
    from deltalake import DeltaTable

    manifest, catalog = _artifacts(docs_target)
    models = {uid: n for uid, n in manifest["nodes"].items() if n["resource_type"] == "model"}
    for uid, node in models.items():
        stats = catalog["nodes"][uid]["stats"]
        assert stats["has_stats"]["value"] is True, (uid, stats)
        table = DeltaTable(f"{node['config']['location_root']}/{node['alias']}")
        actions = pa.table(table.get_add_actions(flatten=True)).to_pydict()
        assert stats["rows"]["value"] == sum(actions["num_records"]), uid
        assert stats["bytes"]["value"] == sum(actions["size_bytes"]), uid
        assert stats["files"]["value"] == len(actions["path"]), uid
        assert stats["version"]["value"] == table.version(), uid
    gold = catalog["nodes"][f"model.{PROJECT}.{GOLD_MODEL}"]["stats"]
    assert gold["rows"]["value"] > 0


def test_descriptions_are_comments_in_the_delta_table(spark: Any, docs_target: Path) -> None:
    model = _yml_model(GOLD_MODEL)
    rows = spark.sql(f"describe table extended gold.{GOLD_MODEL}").collect()
    comments = {}
    for row in rows:
        if not row.col_name or row.col_name.startswith("#"):
            break
        comments[row.col_name] = row.comment
    for column in model["columns"]:
        assert comments[column["name"]] == column["description"], column["name"]
    table_comment = next(r.data_type for r in rows if r.col_name == "Comment")
    assert table_comment == model["description"]


@contextmanager
def _served(folder: Path) -> Iterator[str]:
    """The folder over HTTP on 127.0.0.1, a free port, in a thread (what `dbt docs serve` does)."""

    class Handler(SimpleHTTPRequestHandler):
        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/index.html"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def _chromium() -> str:
    found = os.environ.get("LAKEHOUSE_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    if not found:
        pytest.fail("Chromium is missing: bin/setup --test-servers installs it (or set LAKEHOUSE_CHROMIUM)")
    return found


# The graph as the site draws it: cytoscape keeps its instance on the graph's container.
VISIBLE_GRAPH = """() => {
    const cy = document.querySelector('#cy')._cyreg.cy;
    return {nodes: cy.nodes(':visible').map(n => n.id()),
            edges: cy.edges(':visible').map(e => [e.source().id(), e.target().id()])};
}"""


def _column_types(page: Any) -> dict[str, str]:
    """Column name -> type, as the model page's Columns table shows them (rows with a
    single cell are the folded-away details of the row above)."""
    rows = page.locator("table tbody tr").evaluate_all(
        "rows => rows.map(r => Array.from(r.querySelectorAll('td')).map(td => td.innerText.trim()))"
    )
    return {cells[0]: cells[1] for cells in rows if len(cells) > 1}


def test_docs_site_in_chromium(docs_target: Path, tmp_path: Path) -> None:
    from playwright.sync_api import sync_playwright

    model = _yml_model(GOLD_MODEL)
    with _served(docs_target) as index, sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=_chromium())
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1320})
            page.goto(f"{index}#!/model/model.{PROJECT}.{GOLD_MODEL}")
            page.wait_for_selector(f"td >> text={model['columns'][-1]['name']}")
            shown = _column_types(page)
            details = page.locator(".details").first.inner_text().lower()
            page.screenshot(path=tmp_path / "model_page.png")

            # The lineage graph, narrowed to what the exposures are built from.
            page.set_viewport_size({"width": 1400, "height": 1000})
            page.goto(f"{index}#!/overview")
            page.locator(".launcher-btn a").click()
            page.wait_for_function(f"() => ({VISIBLE_GRAPH})().nodes.length > 0")
            page.locator("input[ng-model='selectorService.selection.dirty.include']").fill("+exposure:*")
            page.locator("#submit-graph-selection").click()
            page.wait_for_function(f"() => ({VISIBLE_GRAPH})().nodes.every(n => !n.startsWith('unit_test.'))")
            graph = page.evaluate(VISIBLE_GRAPH)
            page.screenshot(path=tmp_path / "lineage.png")
        finally:
            browser.close()

    want = {c["name"]: c["data_type"] for c in model["columns"]}
    assert {name: shown.get(name) for name in want} == want
    for stat in ("rows", "bytes", "files", "version"):
        assert stat in details, details
    assert "public" in details.split() and "protected" not in details.split(), details  # a served model

    edges = {tuple(e) for e in graph["edges"]}
    lineage = [
        f"source.{PROJECT}.bronze.bronze_capture_events",
        f"model.{PROJECT}.int_telemetry_validated",
        f"model.{PROJECT}.silver_telemetry",
        f"model.{PROJECT}.gold_device_metrics_5m",
        f"exposure.{PROJECT}.cosmos_gold_containers",
    ]
    assert set(itertools.pairwise(lineage)) <= edges, sorted(edges)
    exposures = {
        f"exposure.{PROJECT}.{e['name']}"
        for p in (PROJECT_DIR / "models").rglob("*.yml")
        for e in (yaml.safe_load(p.read_text()) or {}).get("exposures", [])
    }
    gold = {f"model.{PROJECT}.{p.stem}" for p in (PROJECT_DIR / "models" / "gold").glob("*.sql")}
    assert exposures and gold and exposures | gold <= set(graph["nodes"])
    assert all((tmp_path / name).stat().st_size > 10_000 for name in ("model_page.png", "lineage.png"))
