"""``pacs``: run the project's own Orthanc and fill it with the HIS's studies.

Attach it to the main command with ``main.add_command(pacs)``, or run
``python -m demo.cli_pacs --help``.
"""

from __future__ import annotations

import json
from pathlib import Path

import click

from demo.orthanc import (
    CONFIG_NAME,
    LOG_NAME,
    Modality,
    OrthancError,
    OrthancProcess,
    client_for,
    orthanc_binary,
    read_pid,
    stop_pid,
)


def _var_dir(_ctx: click.Context, _param: click.Parameter, value: Path | None) -> Path:
    """The given directory, else ``pacs`` in the gateway's data directory (never the working
    directory: every command finds the Orthanc that ``pacs start`` left, wherever it runs)."""
    if value is not None:
        return value
    from gateway.settings import Settings, SettingsError

    try:
        return Path(Settings.from_mapping().data_dir) / "pacs"
    except SettingsError as exc:
        raise click.ClickException(str(exc)) from None


VAR_DIR = click.option(
    "--var-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    callback=_var_dir,
    help="Directory of Orthanc's configuration, database, log and pid file "
    "(default: pacs in FHIR_GATEWAY_DATA_DIR).",
)


@click.group()
def pacs() -> None:
    """The project's PACS (Orthanc) for the demo and for development."""


@pacs.command()
@VAR_DIR
@click.option("--http-port", type=int, default=8042, show_default=True)
@click.option("--dicom-port", type=int, default=4242, show_default=True)
@click.option("--aet", default="ORTHANC", show_default=True, help="Orthanc's AE title.")
@click.option("--user", default="gateway", show_default=True, help="HTTP basic-auth user.")
@click.option("--password", default="", help="HTTP password (default: kept or generated).")
@click.option(
    "--calling-aet",
    multiple=True,
    default=("FHIRGW",),
    show_default=True,
    help="AE title(s) the gateway calls from (repeatable).",
)
@click.option("--scp-aet", default="FHIRGW_SCP", show_default=True, help="Gateway storage SCP.")
@click.option("--scp-host", default="127.0.0.1", show_default=True)
@click.option("--scp-port", type=int, default=11113, show_default=True)
@click.option("--dicom-scp-timeout", type=int, default=30, show_default=True)
@click.option("--max-pdu", type=int, default=16384, show_default=True, help="4096..131072")
def start(
    var_dir: Path,
    http_port: int,
    dicom_port: int,
    aet: str,
    user: str,
    password: str,
    calling_aet: tuple[str, ...],
    scp_aet: str,
    scp_host: str,
    scp_port: int,
    dicom_scp_timeout: int,
    max_pdu: int,
) -> None:
    """Write var-dir/orthanc.json and start Orthanc in the background."""
    if orthanc_binary() is None:
        raise click.ClickException("Orthanc is not installed: run scripts/install-pacs-deps.sh")
    if read_pid(var_dir) is not None:
        raise click.ClickException(f"Orthanc is already running from {var_dir}")
    modalities = tuple(Modality(a, scp_host, scp_port) for a in calling_aet)
    modalities += (Modality(scp_aet, scp_host, scp_port),)
    process = OrthancProcess(
        var_dir,
        http_port,
        dicom_port,
        aet=aet,
        username=user,
        password=password,
        modalities=modalities,
        dicom_scp_timeout=dicom_scp_timeout,
        max_pdu_length=max_pdu,
    )
    try:
        process.start(detach=True)
    except OrthancError as exc:
        raise click.ClickException(f"{exc} (log: {var_dir / LOG_NAME})") from None
    click.echo(
        f"Orthanc {aet} is up: DICOM port {dicom_port}, {process.http_url} "
        f"(user {user}, password in {var_dir / CONFIG_NAME})"
    )


@pacs.command()
@VAR_DIR
def stop(var_dir: Path) -> None:
    """Stop the Orthanc started from var-dir (SIGTERM, then wait)."""
    if stop_pid(var_dir):
        click.echo("Orthanc stopped")
    else:
        click.echo("Orthanc was not running")


@pacs.command()
@VAR_DIR
def status(var_dir: Path) -> None:
    """Tell whether Orthanc runs and answers; exit status 1 if it does not."""
    pid = read_pid(var_dir)
    if pid is None:
        click.echo("Orthanc is not running")
        raise SystemExit(1)
    try:
        client = client_for(var_dir)
        system = client.system()
        plugins = client.get_json("/plugins")
    except OrthancError as exc:
        click.echo(f"Orthanc (pid {pid}) does not answer: {exc}")
        raise SystemExit(1) from None
    click.echo(
        f"Orthanc {system.get('Version')} pid {pid}: AET {system.get('DicomAet')}, DICOM port "
        f"{system.get('DicomPort')}, HTTP port {system.get('HttpPort')}, plugins "
        f"{', '.join(plugins)}"
    )


@pacs.command("load-his")
@VAR_DIR
@click.option("--his-url", required=True, help="SQLAlchemy URL of the HIS database.")
@click.option(
    "--patient-id-source",
    type=click.Choice(["mrn", "national_id"]),
    default="mrn",
    show_default=True,
    help="HIS identifier used as the DICOM PatientID.",
)
@click.option(
    "--patient-id-issuer",
    default="",
    help="Issuer of Patient ID written into the studies (as FHIR_GATEWAY_PACS_PATIENT_ID_ISSUER).",
)
@click.option("--max-size", type=int, default=128, show_default=True, help="Rows/Columns cap.")
@click.option("--limit", type=int, default=None, help="Load at most this many orders.")
@click.option("--calling-aet", default="FHIRGW", show_default=True)
def load_his(
    var_dir: Path,
    his_url: str,
    patient_id_source: str,
    patient_id_issuer: str,
    max_size: int,
    limit: int | None,
    calling_aet: str,
) -> None:
    """Store a synthetic study for every HIS imaging order that has a study UID."""
    from sqlalchemy import create_engine

    from demo.his_studies import load_his_studies
    from dicomweb.backends.dimse import DimseBackend
    from dicomweb.backends.settings import PacsSettings

    try:
        doc = json.loads((var_dir / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise click.ClickException(f"no {CONFIG_NAME} in {var_dir}: run `pacs start`") from None
    settings = PacsSettings(
        port=int(doc["DicomPort"]),
        called_aet=str(doc["DicomAet"]),
        calling_aet=calling_aet,
        patient_id_source="national_id" if patient_id_source == "national_id" else "mrn",
        patient_id_issuer=patient_id_issuer,
    )
    engine = create_engine(his_url)
    with DimseBackend(settings) as backend:
        report = load_his_studies(
            engine,
            backend,
            patient_id_source=settings.patient_id_source,
            patient_id_issuer=settings.patient_id_issuer,
            max_size=max_size,
            limit=limit,
        )
    click.echo(
        f"{report.studies} studies ({report.instances} instances) stored, "
        f"{report.skipped_present} already present, {report.skipped_no_images} without images, "
        f"{len(report.failures)} failed"
    )
    for accession, reason in report.failures:
        click.echo(f"  {accession}: {reason}", err=True)


if __name__ == "__main__":
    pacs()
