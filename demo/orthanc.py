"""Run Orthanc (Debian's ``/usr/sbin/Orthanc``) as the project's own PACS for tests and the demo.

The project writes its own JSON configuration under a var directory instead of using the system
service: storage and index directories, HTTP and DICOM ports, the Orthanc AE title, HTTP basic
authentication, the DICOMweb and GDCM plugins, and the gateway's AE titles in
``DicomModalities`` (Orthanc aborts C-FIND from calling AEs it does not know, and C-MOVE needs
the destination's host and port, PS3.4 §C.4.2.2.1).

Orthanc is always started with ``TCP_NODELAY=1`` in its environment: DCMTK reads it, and without
it every DIMSE round trip pays a 40-90 ms Nagle delay. Orthanc 1.10 has no bind-address option:
both ports listen on every interface; ``RemoteAccessAllowed: false`` limits HTTP to loopback,
and DICOM answers only the declared modalities from their declared hosts
(``DicomCheckModalityHost``, nothing always allowed).
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Any

PLUGIN_DIR = Path("/usr/share/orthanc/plugins")
PLUGINS = ("libOrthancDicomWeb.so", "libOrthancGdcm.so")
CONFIG_NAME = "orthanc.json"
PID_NAME = "orthanc.pid"
LOG_NAME = "orthanc.log"


class OrthancError(RuntimeError):
    """Orthanc could not be started, stopped or reached."""


def orthanc_binary() -> Path | None:
    """The Orthanc executable, or ``None`` when it is not installed (it lives in /usr/sbin)."""
    found = shutil.which("Orthanc") or shutil.which("Orthanc", path="/usr/sbin:/usr/local/sbin")
    return Path(found) if found else None


def free_port() -> int:
    """A TCP port the kernel reports free on the loopback interface right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Modality:
    """A DICOM peer Orthanc knows: a calling AE of the gateway or its storage SCP."""

    aet: str
    host: str = "127.0.0.1"
    port: int = 104


@dataclass(frozen=True)
class OrthancConfig:
    """Everything the project decides in Orthanc's configuration file, with defaults.

    ``password`` empty means: keep the one already written in ``var_dir``, or generate one.
    ``dicom_scp_timeout`` is Orthanc's idle timeout of incoming associations (seconds).
    ``max_pdu_length`` is Orthanc's PDU size, 4096..131072 (Orthanc's default is 16384).
    """

    var_dir: Path
    http_port: int = 8042
    dicom_port: int = 4242
    aet: str = "ORTHANC"
    username: str = "gateway"
    password: str = ""
    modalities: tuple[Modality, ...] = (
        Modality("FHIRGW", port=11112),
        Modality("FHIRGW_SCP", port=11113),
    )
    dicom_scp_timeout: int = 30
    max_pdu_length: int = 16384
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def config_path(self) -> Path:
        return self.var_dir / CONFIG_NAME

    def document(self, password: str) -> dict[str, Any]:
        """Orthanc's JSON configuration (Orthanc Book, "Configuration of Orthanc")."""
        plugins = [str(PLUGIN_DIR / name) for name in PLUGINS if (PLUGIN_DIR / name).exists()]
        storage = self.var_dir.resolve() / "storage"
        doc: dict[str, Any] = {
            "Name": f"PACS-{self.aet}",
            "StorageDirectory": str(storage),
            "IndexDirectory": str(storage),
            "HttpPort": self.http_port,
            "DicomPort": self.dicom_port,
            "DicomAet": self.aet,
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": True,
            "RegisteredUsers": {self.username: password},
            "DicomModalities": {
                m.aet.lower(): {"AET": m.aet, "Host": m.host, "Port": m.port}
                for m in self.modalities
            },
            # Orthanc 1.10 cannot bind its DICOM port to one address: it listens on every
            # interface. So only the declared modalities, calling from their declared hosts,
            # are answered at all (an unknown AE or host is refused at association).
            "DicomAlwaysAllowEcho": False,
            "DicomAlwaysAllowStore": False,
            "DicomCheckModalityHost": True,
            "DicomCheckCalledAet": True,
            "DicomScpTimeout": self.dicom_scp_timeout,
            "MaximumPduLength": self.max_pdu_length,
            # PS3.5 §6.1: answer C-FIND in UTF-8 so Romanian and Polish names survive
            "DefaultEncoding": "Utf8",
            "Plugins": plugins,
            "DicomWeb": {
                "Enable": True,
                "Root": "/dicom-web/",
                "EnableWado": True,
                "Ssl": False,
                "StudiesMetadata": "Full",
                "SeriesMetadata": "Full",
            },
            "Gdcm": {"Enable": True},
            "OrthancExplorerEnabled": False,
            "WebDavEnabled": False,
            "SaveJobs": False,
            # the demo's and the tests' data can be generated again: skip fsync per instance
            "SyncStorageArea": False,
            "DeidentifyLogs": True,
        }
        doc.update(self.extra)
        return doc


def _read_password(path: Path, username: str) -> str:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
        return str(doc["RegisteredUsers"][username])
    except (OSError, ValueError, KeyError, TypeError):
        return ""


def write_config(config: OrthancConfig) -> str:
    """Write ``orthanc.json`` (mode 0600: it holds the password); return the password used."""
    config.var_dir.mkdir(parents=True, exist_ok=True)
    (config.var_dir / "storage").mkdir(exist_ok=True)
    password = config.password or _read_password(config.config_path, config.username)
    password = password or secrets.token_urlsafe(18)
    path = config.config_path
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        json.dump(config.document(password), out, indent=2, ensure_ascii=False)
    return password


class OrthancClient:
    """A minimal client of Orthanc's REST API (standard library only)."""

    def __init__(self, base_url: str, username: str, password: str) -> None:
        self.base_url = base_url.rstrip("/")
        token = base64.b64encode(f"{username}:{password}".encode()).decode("ascii")
        self._auth = f"Basic {token}"

    def request(
        self, method: str, path: str, body: bytes | None = None, *, timeout: float = 30.0
    ) -> bytes:
        """Send one request; raise :class:`OrthancError` on a connection error or HTTP error."""
        url = self.base_url + path
        if not url.startswith(("http://", "https://")):
            raise OrthancError(f"not an HTTP URL: {url}")
        req = urllib.request.Request(url, data=body, method=method)  # noqa: S310 (checked above)
        req.add_header("Authorization", self._auth)
        try:
            with urllib.request.urlopen(req, timeout=timeout) as rsp:  # noqa: S310
                return bytes(rsp.read())
        except (urllib.error.URLError, OSError) as exc:
            raise OrthancError(f"{method} {path}: {exc}") from exc

    def get_json(self, path: str) -> Any:
        return json.loads(self.request("GET", path))

    def system(self, *, timeout: float = 2.0) -> dict[str, Any]:
        """``GET /system``: version, AE title and ports of a running Orthanc."""
        return dict(json.loads(self.request("GET", "/system", timeout=timeout)))

    def lookup(self, uid: str) -> list[dict[str, Any]]:
        """``POST /tools/lookup``: Orthanc's resource ids for a DICOM UID."""
        return list(json.loads(self.request("POST", "/tools/lookup", uid.encode("ascii"))))

    def instance_file(self, sop_instance_uid: str) -> bytes:
        """The stored Part-10 file of one instance, as Orthanc keeps it."""
        for hit in self.lookup(sop_instance_uid):
            if hit.get("Type") == "Instance":
                return self.request("GET", f"/instances/{hit['ID']}/file")
        raise OrthancError(f"no instance {sop_instance_uid}")

    def delete_study(self, study_uid: str) -> bool:
        """Delete a study by Study Instance UID; ``False`` if Orthanc does not hold it."""
        for hit in self.lookup(study_uid):
            if hit.get("Type") == "Study":
                self.request("DELETE", f"/studies/{hit['ID']}")
                return True
        return False


def wait_ready(client: OrthancClient, *, timeout: float, alive: Any = None) -> dict[str, Any]:
    """Poll ``GET /system`` until it answers; ``alive()`` returning False aborts the wait."""
    deadline = time.monotonic() + timeout
    last: Exception | None = None
    while time.monotonic() < deadline:
        if alive is not None and not alive():
            raise OrthancError("Orthanc exited during start-up (see its log)")
        try:
            return client.system(timeout=1.0)
        except OrthancError as exc:
            last = exc
            time.sleep(0.05)
    raise OrthancError(f"Orthanc did not answer GET /system within {timeout} s: {last}")


class OrthancProcess:
    """A running Orthanc with the project's configuration; a context manager for tests.

    >>> with OrthancProcess(tmp, http_port=free_port(), dicom_port=free_port()) as pacs:
    ...     pacs.client.system()["DicomAet"]
    'ORTHANC'
    """

    def __init__(
        self,
        var_dir: Path | str,
        http_port: int,
        dicom_port: int,
        *,
        aet: str = "ORTHANC",
        username: str = "gateway",
        password: str = "",
        modalities: tuple[Modality, ...] | None = None,
        dicom_scp_timeout: int = 30,
        max_pdu_length: int = 16384,
        binary: Path | None = None,
    ) -> None:
        kwargs: dict[str, Any] = {} if modalities is None else {"modalities": modalities}
        self.config = OrthancConfig(
            var_dir=Path(var_dir),
            http_port=http_port,
            dicom_port=dicom_port,
            aet=aet,
            username=username,
            password=password,
            dicom_scp_timeout=dicom_scp_timeout,
            max_pdu_length=max_pdu_length,
            **kwargs,
        )
        self.binary = binary or orthanc_binary()
        self.password = ""
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def aet(self) -> str:
        return self.config.aet

    @property
    def dicom_port(self) -> int:
        return self.config.dicom_port

    @property
    def http_url(self) -> str:
        return f"http://127.0.0.1:{self.config.http_port}"

    @property
    def client(self) -> OrthancClient:
        return OrthancClient(self.http_url, self.config.username, self.password)

    def start(self, *, timeout: float = 20.0, detach: bool = False) -> None:
        """Write the configuration, launch Orthanc, wait for ``GET /system``, write the pid file.

        ``detach`` starts Orthanc in a new process group so that it outlives this process (the CLI).
        """
        if self.binary is None:
            raise OrthancError("Orthanc is not installed (run scripts/install-pacs-deps.sh)")
        if self.is_running():
            return
        self.password = write_config(self.config)
        env = {**os.environ, "TCP_NODELAY": "1"}
        log = (self.config.var_dir / LOG_NAME).open("ab")
        try:
            self._proc = subprocess.Popen(  # noqa: S603 (fixed argv, no shell)
                [str(self.binary), str(self.config.config_path.resolve())],
                cwd=self.config.var_dir,
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=detach,
            )
        finally:
            log.close()
        (self.config.var_dir / PID_NAME).write_text(f"{self._proc.pid}\n", encoding="ascii")
        proc = self._proc
        try:
            wait_ready(self.client, timeout=timeout, alive=lambda: proc.poll() is None)
        except OrthancError:
            self.stop()
            raise

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def stop(self, *, timeout: float = 20.0) -> None:
        """SIGTERM, wait (Orthanc needs a few seconds), SIGKILL as a last resort."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        (self.config.var_dir / PID_NAME).unlink(missing_ok=True)

    def kill(self) -> None:
        """SIGKILL: the PACS vanishes at once, as in a crash or a network cut (tests)."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait(10)
        (self.config.var_dir / PID_NAME).unlink(missing_ok=True)

    def __enter__(self) -> OrthancProcess:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()


def read_pid(var_dir: Path) -> int | None:
    """The pid written by ``start``, if that process still exists."""
    try:
        pid = int((var_dir / PID_NAME).read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    except PermissionError:
        return pid
    return pid


def _reap(pid: int) -> None:
    """Collect the exit status if Orthanc is our own child (else it would linger as a zombie)."""
    with contextlib.suppress(ChildProcessError):
        os.waitpid(pid, os.WNOHANG)


def stop_pid(var_dir: Path, *, timeout: float = 20.0) -> bool:
    """Stop the Orthanc whose pid file is in ``var_dir``; ``False`` if none was running."""
    pid = read_pid(var_dir)
    if pid is None:
        (var_dir / PID_NAME).unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and read_pid(var_dir) is not None:
        _reap(pid)
        time.sleep(0.1)
    if read_pid(var_dir) is not None:
        os.kill(pid, signal.SIGKILL)
    (var_dir / PID_NAME).unlink(missing_ok=True)
    return True


def client_for(var_dir: Path) -> OrthancClient:
    """A REST client built from the configuration written in ``var_dir``."""
    try:
        doc = json.loads((var_dir / CONFIG_NAME).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise OrthancError(f"no readable {CONFIG_NAME} in {var_dir}") from exc
    username, password = next(iter(doc["RegisteredUsers"].items()))
    return OrthancClient(f"http://127.0.0.1:{doc['HttpPort']}", username, password)
