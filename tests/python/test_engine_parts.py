"""The engine's pieces that need no running server: ports, settings, clear errors."""

from __future__ import annotations

import socket
import stat
import xml.etree.ElementTree as ET
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from lakehouse.engine import Engine, EngineError
from lakehouse.engine.auth import THRIFT_PASSWORD_ENV, authenticator_jar, client_env
from lakehouse.engine.jars import driver_class_path, spark_home
from lakehouse.engine.session import cluster_spark_session
from lakehouse.engine.settings import EngineLayout, Ports, write_conf
from lakehouse.paths import Lake
from lakehouse.profile import local_spark_conf

PORTS = Ports(metastore=25432, master=27077, master_ui=28080, thrift=20000)


@pytest.fixture
def taken_port() -> Iterator[int]:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        yield sock.getsockname()[1]


def test_a_taken_port_is_named_and_nothing_starts(tmp_path: Path, taken_port: int) -> None:
    engine = Engine(Lake.at(tmp_path), Ports(PORTS.metastore, PORTS.master, PORTS.master_ui, taken_port))
    with pytest.raises(EngineError, match=f"thrift port {taken_port}"):
        engine.start()
    assert not any(state.running for state in engine.status())
    assert not (tmp_path / "_engine").exists()


def test_cluster_settings_keep_the_local_targets_and_the_password_stays_in_hive_site(tmp_path: Path) -> None:
    layout = EngineLayout(Lake.at(tmp_path))
    conf = write_conf(layout, PORTS, "/cache/jars/*")
    defaults = dict(line.split(" ", 1) for line in (conf / "spark-defaults.conf").read_text().splitlines())
    local = local_spark_conf()
    for key in (
        "spark.jars.packages",
        "spark.sql.extensions",
        "spark.sql.catalog.spark_catalog",
        "spark.sql.session.timeZone",
        "spark.sql.ansi.enabled",
    ):
        assert defaults[key] == local[key], key
    assert defaults["spark.master"] == "spark://127.0.0.1:27077"
    assert defaults["spark.driver.extraClassPath"] == "/cache/jars/*"
    assert not any("derby" in value.lower() for value in defaults.values())
    site = conf / "hive-site.xml"
    assert stat.S_IMODE(site.stat().st_mode) == 0o600
    properties = {p.findtext("name"): p.findtext("value") for p in ET.parse(site).getroot()}
    password = layout.metastore_password()
    assert properties["javax.jdo.option.ConnectionPassword"] == password and len(password) >= 24
    assert properties["javax.jdo.option.ConnectionURL"] == "jdbc:postgresql://127.0.0.1:25432/metastore"
    assert password not in (conf / "spark-defaults.conf").read_text()


def test_each_lake_has_its_own_engine_secret_which_only_its_user_can_read(tmp_path: Path) -> None:
    lakes = [Lake.at(tmp_path / name) for name in ("one", "two")]
    assert client_env(lakes[0]) == {}  # no secret before the engine's first start
    secrets = []
    for lake in lakes:
        conf = write_conf(EngineLayout(lake), PORTS, "/cache/jars/*")
        secret = (conf / "engine.secret").read_text().strip()
        assert len(secret) >= 32
        defaults = dict(line.split(" ", 1) for line in (conf / "spark-defaults.conf").read_text().splitlines())
        assert defaults["spark.authenticate"] == "true" and defaults["spark.authenticate.secret"] == secret
        assert defaults["spark.master.rest.enabled"] == "false"  # Spark's REST submission has no authentication
        assert defaults["spark.ui.killEnabled"] == "false"
        assert defaults["spark.master.ui.decommission.allow.mode"] == "DENY"
        properties = {p.findtext("name"): p.findtext("value") for p in ET.parse(conf / "hive-site.xml").getroot()}
        assert properties["lakehouse.engine.secret.file"] == str(conf / "engine.secret")
        assert secret not in (conf / "hive-site.xml").read_text()
        assert stat.S_IMODE(conf.stat().st_mode) == 0o700
        for name in ("engine.secret", "spark-defaults.conf", "hive-site.xml", "metastore.password"):
            assert stat.S_IMODE((conf / name).stat().st_mode) == 0o600, name
        assert client_env(lake) == {THRIFT_PASSWORD_ENV: secret}
        secrets.append(secret)
    assert secrets[0] != secrets[1]
    write_conf(EngineLayout(lakes[0]), PORTS, "/cache/jars/*")  # a restart keeps the lake's secret
    assert client_env(lakes[0]) == {THRIFT_PASSWORD_ENV: secrets[0]}


def test_a_conf_file_left_readable_by_others_is_made_private_before_the_secret_is_written(tmp_path: Path) -> None:
    layout = EngineLayout(Lake.at(tmp_path))
    layout.conf.mkdir(parents=True)
    (layout.conf / "spark-defaults.conf").write_text("spark.master local\n")
    (layout.conf / "spark-defaults.conf").chmod(0o644)
    layout.conf.chmod(0o755)
    conf = write_conf(layout, PORTS, "/cache/jars/*")
    assert stat.S_IMODE((conf / "spark-defaults.conf").stat().st_mode) == 0o600
    assert stat.S_IMODE(conf.stat().st_mode) == 0o700


@pytest.mark.spark  # runs Java (Janino) on Spark's jars
def test_the_thrift_servers_authenticator_compiles_against_sparks_jars_once(tmp_path: Path) -> None:
    layout = EngineLayout(Lake.at(tmp_path))
    jar = authenticator_jar(layout)
    assert "lakehouse/engine/EngineSecretAuthenticator.class" in zipfile.ZipFile(jar).namelist()
    built = jar.stat().st_mtime_ns
    assert authenticator_jar(layout) == jar and jar.stat().st_mtime_ns == built


def test_a_job_on_the_cluster_target_without_the_engine_says_how_to_start_it(tmp_path: Path) -> None:
    with pytest.raises(EngineError, match="lakehouse engine start"):
        cluster_spark_session(Lake.at(tmp_path))


@pytest.mark.spark  # resolves Spark's packages with spark-submit (a JVM) and fetches jars from Maven Central
def test_the_thrift_servers_class_path_holds_the_hive_class_spark_4_leaves_out() -> None:
    # Hive's FunctionRegistry, loaded when the Thrift server closes a session, needs this
    # class; Spark 4's jars lack it, so without it a client's dbt command failed (SPARK-51041).
    wanted = "org/apache/hadoop/hive/llap/security/LlapSigner$Signable.class"
    class_path = [*Path(driver_class_path().removesuffix("*")).glob("*.jar"), *(spark_home() / "jars").glob("*.jar")]
    assert [jar.name for jar in class_path if wanted in zipfile.ZipFile(jar).namelist()]
