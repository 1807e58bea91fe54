"""The ``fhir-gateway`` command as an operator runs it: which files it uses wherever it is
started, and which commands warn about a missing signing key."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from tests.gunicorn_serving import wait_ready
from tests.test_operations import _closed_port

CLI = Path(sys.executable).parent / "fhir-gateway"
WARNING = "FHIR_GATEWAY_SECRET_KEY is not set"
#: the other setting only a server is warned about: the built-in video service without a secret
VIDEO_WARNING = "FHIR_GATEWAY_VIDEO_JITSI_SECRET is not set"


def _env(home: Path, **settings: str) -> dict[str, str]:
    """A clean environment: none of the caller's FHIR_GATEWAY_* or XDG variables, ``home`` as
    the home directory, then ``settings``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("FHIR_GATEWAY_", "XDG_")) and k != "HOME"
    }
    env.update(HOME=str(home), FHIR_GATEWAY_LOG_LEVEL="INFO", FHIR_GATEWAY_LOG_JSON="false")
    env.update({f"FHIR_GATEWAY_{k.upper()}": v for k, v in settings.items()})
    return env


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [str(CLI), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return done


def _files(root: Path) -> set[str]:
    return {str(p.relative_to(root)) for p in root.rglob("*")}


@pytest.mark.parametrize("configured", [False, True], ids=["xdg-default", "data-dir"])
def test_commands_from_two_directories_use_the_same_files(tmp_path: Path, configured: bool) -> None:
    """A HIS made, a client registered and the configuration checked from three different
    working directories: each command finds what the others made, in the data directory
    (the XDG default, or FHIR_GATEWAY_DATA_DIR), and none writes into a working directory."""
    home, one, two, three = (tmp_path / n for n in ("home", "one", "two", "three"))
    for d in (home, one, two, three):
        d.mkdir()
    data = tmp_path / "data" if configured else home / ".local" / "share" / "fhir-gateway"
    env = _env(home, data_dir=str(data)) if configured else _env(home)
    _run(["his", "create"], one, env)
    registered = _run(
        ["oauth", "register-app", "--name", "Ana's app", "--redirect-uri", "https://a.example/cb"],
        two,
        env,
    )
    client_id = registered.stdout.split("client_id: ", 1)[1].split()[0]
    listed = _run(["oauth", "list"], one, env)
    assert client_id in listed.stdout
    shown = _run(["check-config"], three, env).stdout
    assert f"his_url = sqlite:///{data / 'his.sqlite'}" in shown
    assert f"state_url = sqlite:///{data / 'state.sqlite'}" in shown
    assert f"outbox_dir = {data / 'outbox'}" in shown
    assert f"dicomweb_cache_dir = {data / 'dicomweb-cache'}" in shown
    assert f"data_dir = {data}" in shown
    assert (data / "his.sqlite").is_file()
    assert (data / "state.sqlite").is_file()
    for cwd in (one, two, three):
        assert _files(cwd) == set(), cwd


def test_relative_paths_are_within_the_data_directory(tmp_path: Path) -> None:
    from gateway.settings import Settings, SettingsError

    data = tmp_path / "data"
    s = Settings.from_mapping(
        {
            "data_dir": str(data),
            "state_url": "sqlite:///db/state.sqlite",
            "his_url": "postgresql+psycopg://gw:pw@db.example/his",
            "outbox_dir": "mail",
            "audit_journal_dir": "/var/lib/journal",
            "dicomweb_cache_dir": "",
        },
        environ=False,
    )
    assert s.state_url == f"sqlite:///{data}/db/state.sqlite"
    assert s.his_url == "postgresql+psycopg://gw:pw@db.example/his"
    assert s.outbox_dir == str(data / "mail")
    assert s.audit_journal_dir == "/var/lib/journal"
    assert s.dicomweb_cache_dir == ""  # empty still means no cache
    assert Settings.from_mapping({"state_url": "sqlite://"}, environ=False).state_url == "sqlite://"
    with pytest.raises(SettingsError, match="DATA_DIR"):
        Settings.from_mapping({"data_dir": "relative/dir"}, environ=False)


def test_only_what_signs_warns_about_a_missing_secret_key(tmp_path: Path) -> None:
    """Admin commands sign and verify nothing: no warning from ``oauth list``,
    ``check-config``, ``state current`` or ``accounts unlock``; ``serve`` signs paging links,
    sessions and viewer links with a key it makes, and says so before it serves."""
    home = tmp_path / "home"
    home.mkdir()
    env = _env(home, data_dir=str(tmp_path / "data"))
    _run(["his", "create"], tmp_path, env)
    for args in (["oauth", "list"], ["check-config"], ["state", "current"]):
        done = _run(args, tmp_path, env)
        assert WARNING not in done.stdout + done.stderr, args
        assert VIDEO_WARNING not in done.stdout + done.stderr, args
    unlock = subprocess.run(
        [str(CLI), "accounts", "unlock", "nobody@example.org"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert "no such account" in unlock.stderr  # it ran, building the whole app
    assert WARNING not in unlock.stdout + unlock.stderr
    assert VIDEO_WARNING not in unlock.stdout + unlock.stderr
    keyed = _run(["check-config"], tmp_path, {**env, "FHIR_GATEWAY_SECRET_KEY": "k"})
    assert WARNING not in keyed.stdout + keyed.stderr

    port = _closed_port()
    log = tmp_path / "serve.log"
    serve_env = {**env, "FHIR_GATEWAY_PORT": str(port), "FHIR_GATEWAY_WORKERS": "1"}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [str(CLI), "serve"], cwd=tmp_path, env=serve_env, stdout=out, stderr=subprocess.STDOUT
        )
        try:
            wait_ready(port, log, timeout_s=60)  # a worker built its app and answers
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=40)
    # said once, by serve itself; its worker, which shares the key serve made, stays quiet
    assert log.read_text(errors="replace").count(WARNING) == 1
    assert log.read_text(errors="replace").count(VIDEO_WARNING) == 1
