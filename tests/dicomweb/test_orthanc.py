"""The project's Orthanc: its configuration, its environment and the ``pacs`` command."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from demo.orthanc import (
    CONFIG_NAME,
    Modality,
    OrthancConfig,
    free_port,
    orthanc_binary,
    write_config,
)
from tests.dicomweb.conftest import NO_ORTHANC, Pacs

REPO = Path(__file__).resolve().parents[2]


def test_config_document(tmp_path: Path) -> None:
    config = OrthancConfig(
        var_dir=tmp_path,
        http_port=18000,
        dicom_port=14000,
        modalities=(Modality("FHIRGW", port=11112), Modality("FHIRGW_SCP", "10.0.0.5", 11113)),
        dicom_scp_timeout=7,
    )
    password = write_config(config)
    doc = json.loads((tmp_path / CONFIG_NAME).read_text(encoding="utf-8"))
    assert (tmp_path / CONFIG_NAME).stat().st_mode & 0o777 == 0o600
    assert doc["RemoteAccessAllowed"] is False
    assert doc["AuthenticationEnabled"] is True
    assert doc["RegisteredUsers"] == {"gateway": password}
    assert len(password) >= 20
    assert doc["DicomModalities"]["fhirgw_scp"] == {
        "AET": "FHIRGW_SCP", "Host": "10.0.0.5", "Port": 11113,
    }  # fmt: skip
    assert doc["DicomScpTimeout"] == 7
    assert doc["DicomWeb"]["StudiesMetadata"] == doc["DicomWeb"]["SeriesMetadata"] == "Full"
    assert doc["DicomWeb"]["Enable"] is True
    assert doc["StorageDirectory"].startswith(str(tmp_path.resolve()))
    assert write_config(config) == password  # kept when written again


def test_orthanc_runs_with_tcp_nodelay_and_plugins(pacs: Pacs) -> None:
    assert pacs.process.pid is not None
    environ = Path(f"/proc/{pacs.process.pid}/environ").read_bytes().split(b"\0")
    assert b"TCP_NODELAY=1" in environ
    plugins = pacs.process.client.get_json("/plugins")
    assert {"dicom-web", "gdcm"} <= set(plugins)


def test_pacs_command_starts_reports_and_stops(tmp_path: Path) -> None:
    if orthanc_binary() is None:
        pytest.skip(NO_ORTHANC)
    var_dir = tmp_path / "pacs"
    base = [sys.executable, "-m", "demo.cli_pacs"]

    def pacs_cmd(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*base, *args, "--var-dir", str(var_dir)],
            cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip

    http_port, dicom_port = free_port(), free_port()
    started = pacs_cmd("start", "--http-port", str(http_port), "--dicom-port", str(dicom_port))
    try:
        assert started.returncode == 0, started.stderr
        assert f"DICOM port {dicom_port}" in started.stdout
        assert (var_dir / "orthanc.pid").exists()
        again = pacs_cmd("start", "--http-port", str(http_port), "--dicom-port", str(dicom_port))
        assert again.returncode != 0
        assert "already running" in again.stderr
        status = pacs_cmd("status")
        assert status.returncode == 0, status.stdout
        assert "dicom-web" in status.stdout
    finally:
        stopped = pacs_cmd("stop")
    assert stopped.stdout.strip() == "Orthanc stopped"
    assert not (var_dir / "orthanc.pid").exists()
    assert pacs_cmd("status").returncode == 1


def test_only_declared_modalities_from_their_hosts_are_answered(pacs: Pacs) -> None:
    """Orthanc 1.10 listens on every interface: an AE it does not know (or a known AE from
    another host) is refused at association, so the demo PACS serves nobody but the gateway."""
    from pynetdicom import AE
    from pynetdicom.sop_class import Verification

    settings = pacs.settings()

    def echo(calling: str) -> bool:
        ae = AE(calling)
        ae.add_requested_context(Verification)
        ae.acse_timeout = ae.network_timeout = 5
        assoc = ae.associate("127.0.0.1", pacs.process.dicom_port, ae_title=pacs.process.aet)
        if not assoc.is_established:
            return False
        status = assoc.send_c_echo()
        assoc.release()
        return bool(status) and status.Status == 0

    assert echo(settings.calling_aet)
    assert not echo("STRANGER")
    doc = json.loads(pacs.process.config.config_path.read_text(encoding="utf-8"))
    assert doc["DicomCheckModalityHost"] is True
    assert doc["DicomAlwaysAllowStore"] is doc["DicomAlwaysAllowEcho"] is False
