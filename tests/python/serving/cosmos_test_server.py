"""Start the Cosmos SQL-API test server (node_modules/@vercel/cosmosdb-server) on 127.0.0.1.

Used by the pytest fixtures and by benchmarks/cosmos_sync_at_scale.py. The server runs behind a
self-signed certificate made here (the package's bundled one has expired).
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from lakehouse.paths import PROJECT_DIR

HERE = Path(__file__).parent
# The server accepts any key; this is the well-known key of the Cosmos DB emulator.
EMULATOR_KEY = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU9DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="  # pragma: allowlist secret


class CosmosServerUnavailable(RuntimeError):
    pass


@dataclass(frozen=True)
class TlsFiles:
    cert: Path
    key: Path


@dataclass(frozen=True)
class CosmosServer:
    port: int
    tls: TlsFiles

    @property
    def endpoint(self) -> str:
        return f"https://127.0.0.1:{self.port}/"


def make_tls_files(folder: Path) -> TlsFiles:
    """A self-signed certificate for 127.0.0.1 / localhost, valid for two days."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(hours=1))
        .not_valid_after(now + dt.timedelta(days=2))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1")), x509.DNSName("localhost")]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    folder.mkdir(parents=True, exist_ok=True)
    files = TlsFiles(folder / "cert.pem", folder / "key.pem")
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    files.key.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    return files


@contextmanager
def running_cosmos_server(tls: TlsFiles) -> Iterator[CosmosServer]:
    node = shutil.which("node")
    if node is None or not (PROJECT_DIR / "node_modules" / "@vercel" / "cosmosdb-server").is_dir():
        raise CosmosServerUnavailable(
            "the Cosmos test server is not installed: run `bin/setup --test-servers` (npm ci)"
        )
    process = subprocess.Popen(
        [node, str(HERE / "cosmos_server.js"), str(tls.cert), str(tls.key), "0"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        cwd=PROJECT_DIR,
    )
    assert process.stdin is not None and process.stdout is not None
    try:
        line = process.stdout.readline().strip()
        if not line.startswith("listening "):
            raise CosmosServerUnavailable(f"the Cosmos test server did not start: {line!r}")
        yield CosmosServer(int(line.split()[1]), tls)
    finally:
        process.stdin.close()  # the script exits when its stdin closes
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
