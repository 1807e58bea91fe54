"""The deployment examples the README shows are real: the systemd unit passes
``systemd-analyze verify``, the HAProxy configuration passes ``haproxy -c``, and every gateway
setting they name exists and takes the value given."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from dataclasses import fields
from pathlib import Path

import pytest

from gateway.settings import PREFIX, Settings

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
OPTIONS = {f.name.upper() for f in fields(Settings)}


def _named(text: str) -> set[str]:
    return set(re.findall(rf"\b{PREFIX}([A-Z0-9_]+)", text))


@pytest.mark.parametrize("name", ["fhir-gateway.service", "gateway.env", "haproxy.cfg"])
def test_every_setting_a_deployment_file_names_exists(name: str) -> None:
    named = _named((DEPLOY / name).read_text())
    unknown = {n for n in named if n not in OPTIONS and n.removesuffix("_FILE") not in OPTIONS}
    assert not unknown


def test_the_shared_settings_file_is_valid_settings() -> None:
    values = {}
    for line in (DEPLOY / "gateway.env").read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            key, _, value = line.partition("=")
            values[key] = value
    settings = Settings.from_mapping(values, environ=False)
    assert settings.proxy_hops == 1
    assert settings.public_base_url.startswith("https://")


def test_the_unit_file_passes_systemd_analyze(tmp_path: Path) -> None:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    unit = (DEPLOY / "fhir-gateway.service").read_text()
    assert "ExecStart=/opt/fhir-gateway/.venv/bin/fhir-gateway serve" in unit
    # the command must exist where it is verified: the installed path is the operator's
    copy = tmp_path / "fhir-gateway.service"
    copy.write_text(unit.replace("/opt/fhir-gateway/.venv/bin/fhir-gateway serve", "/bin/true"))
    done = subprocess.run(
        ["systemd-analyze", "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    complaints = [line for line in done.stderr.splitlines() if str(copy) in line]
    assert done.returncode == 0, done.stderr
    assert not complaints


def _certificate(path: Path) -> None:
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "fhir.hospital.example")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + dt.timedelta(days=1))
        .sign(key, hashes.SHA256())
    )
    path.write_bytes(
        cert.public_bytes(serialization.Encoding.PEM)
        + key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )


def test_the_load_balancer_configuration_passes_haproxy_check(tmp_path: Path) -> None:
    binary = shutil.which("haproxy") or shutil.which("haproxy", path="/usr/sbin")
    if binary is None:
        pytest.skip("haproxy is not installed: run make setup")
    pem = tmp_path / "gateway.pem"
    _certificate(pem)
    config = tmp_path / "haproxy.cfg"
    text = (DEPLOY / "haproxy.cfg").read_text()
    config.write_text(text.replace("/etc/haproxy/certs/gateway.pem", str(pem)))
    done = subprocess.run(
        [binary, "-c", "-f", str(config)], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "[ALERT]" not in done.stderr
