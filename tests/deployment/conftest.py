"""The deployment under test: two gateway hosts, one load balancer, shared state (see
``cluster``), with the people, apps and studies the tests need.

Both hosts run with the same settings (the shared PostgreSQL state database and Redis, one
HIS, one PACS, the same secret key), each with its own audit journal and DICOMweb cache, as
the README's "Running in production" asks.
"""

from __future__ import annotations

import os
import sys
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from demo.synthetic import Patient, StudySpec, build_study
from dicomweb.backends.dimse import DimseBackend
from fhir_gateway.his import schema as t
from smart_auth.accounts.service import valid_national_id
from tests.conftest import scratch_postgres
from tests.deployment.cluster import (
    HOSTS,
    Balancer,
    GatewayHost,
    Network,
    Redis,
    netns_unavailable,
    network,
    stop_hosts,
)
from tests.dicomweb.conftest import CALLING_AET, Pacs, start_pacs
from tests.faults.proxy import FaultProxy

#: PostgreSQL's Unix socket directory: a path, so reachable from every network namespace.
PG_SOCKET = "/var/run/postgresql"
SECRET = "scale-out-test-secret-0123456789abcdef"
MAX_FAILED_LOGINS = 3
REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.postgres


def over_socket(url: str) -> str:
    """The same PostgreSQL database, reached through the Unix socket instead of TCP."""
    name = url.rsplit("/", 1)[1]
    return f"postgresql+psycopg://postgres@/{name}?host={PG_SOCKET}"


@dataclass
class Person:
    his_id: int
    national_id: str
    mrn: str
    email: str


@dataclass
class Cluster:
    net: Network
    lb: Balancer
    hosts: dict[str, GatewayHost]
    pacs: Pacs
    state_url: str  # over TCP, for the test's own look-ups
    redis_url: str
    his_url: str
    env: dict[str, str]
    workdir: Path
    a: Person
    b: Person
    #: HIS patient -> Study Instance UIDs stored in the PACS for them
    studies: dict[int, list[str]] = field(default_factory=dict)
    cache: dict[str, Any] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"{self.lb.url}/fhir"

    def state(self) -> sa.Engine:
        if "state" not in self.cache:
            self.cache["state"] = sa.create_engine(self.state_url)
        engine: sa.Engine = self.cache["state"]
        return engine


def _people(his_url: str) -> tuple[Person, Person]:
    """Two adult patients with CNPs: A with many observations (a search that pages), B."""
    engine = sa.create_engine(his_url)
    with engine.connect() as conn:
        counts = dict(
            conn.execute(
                sa.select(t.lab_result.c.patient_id, sa.func.count()).group_by(
                    t.lab_result.c.patient_id
                )
            ).all()
        )
        rows = conn.execute(
            sa.select(t.patient.c.id, t.patient.c.national_id, t.patient.c.mrn)
            .where(t.patient.c.birth_date < date(2000, 1, 1))
            .order_by(t.patient.c.id)
        ).all()
        linked = {
            int(x)
            for pair in conn.execute(sa.text("SELECT guardian_id, ward_id FROM guardian_link"))
            for x in pair
        }
    engine.dispose()
    fit = [
        r for r in rows if valid_national_id("CNP", str(r.national_id)) and int(r.id) not in linked
    ]
    fit.sort(key=lambda r: -counts.get(r.id, 0))
    a, b = fit[0], fit[1]
    return tuple(  # type: ignore[return-value]
        Person(int(r.id), str(r.national_id), str(r.mrn), f"p{r.id}-{uuid.uuid4().hex[:6]}@x.test")
        for r in (a, b)
    )


def _study(person: Person, modality: str, count: int) -> StudySpec:
    return StudySpec(
        study_uid=f"2.25.{uuid.uuid4().int}",
        patient=Patient(person.mrn, "Scale", f"Out{person.his_id}", date(1980, 1, 1), "O"),
        accession_number=f"SO{uuid.uuid4().hex[:8].upper()}",
        modality=modality,
        performed_at=datetime(2025, 3, 4, 9, 0),
        description=f"{modality} scale-out",
        series_count=1,
        instance_count=count,
        max_size=16,
    )


def _host_env(
    name: str,
    workdir: Path,
    state: str,
    his: str,
    redis_url: str,
    pacs: Pacs,
    pacs_port: int,
    bridge_ip: str,
    public: str,
) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith("FHIR_GATEWAY_")}
    return {
        **keep,
        "PYTHONPATH": str(REPO),
        "FHIR_GATEWAY_HOST": "0.0.0.0",  # noqa: S104 (inside the host's own namespace)
        "FHIR_GATEWAY_PORT": "8080",
        "FHIR_GATEWAY_WORKERS": "2",
        "FHIR_GATEWAY_THREADS": "2",
        "FHIR_GATEWAY_PUBLIC_BASE_URL": public,
        "FHIR_GATEWAY_SECRET_KEY": SECRET,
        "FHIR_GATEWAY_PROXY_HOPS": "1",
        "FHIR_GATEWAY_HIS_URL": his,
        "FHIR_GATEWAY_STATE_URL": state,
        "FHIR_GATEWAY_REDIS_URL": redis_url,
        "FHIR_GATEWAY_AUDIT_JOURNAL_DIR": str(workdir / "journal"),
        "FHIR_GATEWAY_DICOMWEB_CACHE_DIR": str(workdir / "dicomweb-cache"),
        "FHIR_GATEWAY_OUTBOX_DIR": str(workdir / "outbox"),
        "FHIR_GATEWAY_ACCOUNTS_MAX_FAILED_LOGINS": str(MAX_FAILED_LOGINS),
        # the lockout is counted here; the proof of work after a failure has its own tests
        "FHIR_GATEWAY_ALTCHA_ENABLED": "false",
        "FHIR_GATEWAY_PACS_ENABLED": "true",
        "FHIR_GATEWAY_PACS_HOST": bridge_ip,
        "FHIR_GATEWAY_PACS_PORT": str(pacs_port),
        "FHIR_GATEWAY_PACS_CALLED_AET": pacs.process.aet,
        "FHIR_GATEWAY_PACS_CALLING_AET": CALLING_AET,
        "FHIR_GATEWAY_LOG_JSON": "true",
    }


@pytest.fixture(scope="module")
def cluster(postgres_his: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    reason = netns_unavailable()
    if reason:
        pytest.skip(reason)
    if not Path(PG_SOCKET).is_dir():
        pytest.skip(f"PostgreSQL's socket directory {PG_SOCKET} is missing (the hosts reach it)")
    root = tmp_path_factory.mktemp("scale-out")
    with ExitStack() as stack:
        state_tcp = stack.enter_context(scratch_postgres("scaleout_state"))
        net = stack.enter_context(network())
        pacs = start_pacs(root / "orthanc")
        stack.callback(pacs.process.stop)
        dicom = stack.enter_context(
            FaultProxy("127.0.0.1", pacs.process.dicom_port, listen_host=net.bridge_ip)
        )
        redis = Redis(net.bridge_ip, root)
        stack.callback(redis.stop)
        lb = Balancer(net, root)
        stack.callback(lb.stop)
        a, b = _people(postgres_his)
        env: dict[str, str] = {}
        hosts = {}
        for name in HOSTS:
            workdir = root / f"host-{name}"
            workdir.mkdir()
            env = _host_env(
                name,
                workdir,
                over_socket(state_tcp),
                over_socket(postgres_his),
                redis.url,
                pacs,
                dicom.port,
                net.bridge_ip,
                f"{lb.url}/fhir",
            )
            hosts[name] = GatewayHost(name, net, env, workdir)
        # the state database's schema first, as a deployment step (not raced by four workers)
        cli_env = {
            **env,
            "FHIR_GATEWAY_STATE_URL": state_tcp,
            "FHIR_GATEWAY_OUTBOX_DIR": str(root / "cli-outbox"),
        }
        run_cli(cli_env, "state", "upgrade")
        stack.callback(stop_hosts, list(hosts.values()))
        stack.callback(lb.stop)  # again, to run first: its idle connections to the hosts go
        for host in hosts.values():
            host.launch()
        for host in hosts.values():
            host.wait_ready()
        running = Cluster(
            net, lb, hosts, pacs, state_tcp, redis.url, postgres_his, cli_env, root, a, b
        )
        with DimseBackend(pacs.settings()) as backend:
            for person, modality in ((a, "CT"), (a, "MR"), (b, "CR")):
                spec = _study(person, modality, 3)
                result = backend.store(build_study(spec))
                assert result.ok, result.failures
                running.studies.setdefault(person.his_id, []).append(spec.study_uid)
        yield running
        if "state" in running.cache:
            running.cache["state"].dispose()


def run_cli(env: dict[str, str], *args: str) -> str:
    import subprocess

    cli = str(Path(sys.executable).parent / "fhir-gateway")
    done = subprocess.run(
        [cli, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, (args, done.stdout[-2000:], done.stderr[-2000:])
    return done.stdout
