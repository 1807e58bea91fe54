"""The demo's accounts and clients, made once and reused: ``python -m demo.setup`` (``make
demo`` runs it before serving), with the gateway's settings in the environment as for
``fhir-gateway serve``.

* Three accounts on patients of the demo HIS, all with the password ``DEMO_PASSWORD``:
  a Romanian patient (CNP) whose second-factor code is mailed, a Polish patient (PESEL) whose
  account the hospital created and whose code comes by SMS, and a parent who looks after a
  minor (the child is a person in the parent's care, checked against the HIS guardian link).
  The first sign-in of each asks for the information clause.
* The patient portal, registered as a confidential client through ``fhir-gateway oauth
  register-app --confidential``, and a demo SMART app (public, PKCE) the same way.
* ``<out>/portal.env``: the portal's settings (client id, secret and key files) for gunicorn.

A second run finds the accounts by their email and the clients by the ids it wrote, puts the
documented password back and reuses them; a client whose secret was lost is registered anew."""

from __future__ import annotations

import argparse
import copy
import dataclasses
import datetime as dt
import json
import os
import re
import secrets
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from click.testing import CliRunner

from fhir_gateway.his.schema import guardian_link, lab_bulletin, patient
from portal.client import Gateway

DEMO_PASSWORD = "demo-patient-1"  # noqa: S105 (the documented demo password)
PORTAL_NAME = "Patient portal (demo)"
APP_NAME = "Demo SMART app"


@dataclass(frozen=True)
class DemoAccount:
    key: str
    email: str
    language: str
    national_id_kind: str
    #: how the second-factor code travels: mail or sms
    codes_by: str
    description: str


ACCOUNTS = (
    DemoAccount("ro", "pacient.ro@demo.invalid", "ro", "CNP", "mail", "Romanian patient (CNP)"),
    DemoAccount("pl", "pacjent.pl@demo.invalid", "pl", "PESEL", "sms", "Polish patient (PESEL)"),
    DemoAccount("guardian", "parinte@demo.invalid", "ro", "CNP", "mail", "parent of a minor (CNP)"),
)


@dataclass
class Person:
    id: int
    national_id: str
    name: str


def _adults(kind: str, today: dt.date) -> sa.Select[Any]:
    wards = sa.select(guardian_link.c.ward_id)
    guardians = sa.select(guardian_link.c.guardian_id)
    labs = (
        sa.select(sa.func.count())
        .where(lab_bulletin.c.patient_id == patient.c.id)
        .scalar_subquery()
    )
    adult = dt.date(today.year - 18, today.month, min(today.day, 28))
    return (
        sa.select(patient)
        .where(
            patient.c.national_id_kind == kind,
            patient.c.deceased_at.is_(None),
            patient.c.active.is_(True),
            patient.c.birth_date <= adult,
            patient.c.email.is_not(None),
            patient.c.phone.is_not(None),
            patient.c.id.not_in(wards),
            patient.c.id.not_in(guardians),
        )
        .order_by(labs.desc(), patient.c.id)
    )


def pick_patients(his_url: str, today: dt.date) -> dict[str, tuple[Person, Person | None]]:
    """The demo's patients, the same for the same HIS: the Romanian and the Polish adult with
    the most laboratory bulletins, and the first Romanian parent with a current guardian link
    to a minor (with that minor)."""

    def person(row: Any) -> Person:
        return Person(row.id, row.national_id, f"{row.given} {row.family}")

    engine = sa.create_engine(his_url)
    try:
        with engine.connect() as conn:
            ro = conn.execute(_adults("CNP", today).limit(1)).one()
            pl = conn.execute(_adults("PESEL", today).limit(1)).one()
            ward = patient.alias("ward")
            minor = dt.date(today.year - 18, today.month, min(today.day, 28))
            row = conn.execute(
                sa.select(patient, ward.c.id.label("ward_id"))
                .join(guardian_link, guardian_link.c.guardian_id == patient.c.id)
                .join(ward, ward.c.id == guardian_link.c.ward_id)
                .where(
                    patient.c.national_id_kind == "CNP",
                    ward.c.national_id_kind == "CNP",
                    patient.c.deceased_at.is_(None),
                    patient.c.email.is_not(None),
                    ward.c.birth_date > minor,
                    guardian_link.c.valid_from <= today,
                    sa.or_(guardian_link.c.valid_to.is_(None), guardian_link.c.valid_to > today),
                )
                .order_by(patient.c.id)
                .limit(1)
            ).one()
            child_row = conn.execute(sa.select(patient).where(patient.c.id == row.ward_id)).one()
    finally:
        engine.dispose()
    return {
        "ro": (person(ro), None),
        "pl": (person(pl), None),
        "guardian": (person(row), person(child_row)),
    }


def _service_for(svc: Any, kind: str) -> Any:
    """The account service as a registration desk of a ``kind`` (CNP or PESEL) deployment
    sees it: one demo serves both countries' patients."""
    if svc.policy.national_id_kind == kind:
        return svc
    other = copy.copy(svc)
    other.policy = dataclasses.replace(svc.policy, national_id_kind=kind)
    return other


def ensure_account(svc: Any, demo: DemoAccount, who: Person, login_url: str) -> int:
    """The demo account ``demo`` of HIS patient ``who``: created by the registration desk's
    path (``create_for_patient``) when missing, then given the documented password, unlocked,
    and its second factor set (a mailed code: no mobile on file; an SMS code: the HIS one)."""
    from smart_auth.accounts.hospital import create_for_patient
    from smart_auth.accounts.passwords import hash_password
    from smart_auth.accounts.tables import account

    row = svc.find(demo.email)
    if row is None:
        created = create_for_patient(
            _service_for(svc, demo.national_id_kind),
            who.national_id,
            demo.email,
            "",
            demo.language,
            login_url,
        )
        if created.error or created.account_id is None:
            raise SystemExit(f"demo account {demo.email}: not created ({created.error})")
        account_id = int(created.account_id)
    else:
        account_id = int(row.id)
    values: dict[str, Any] = {
        "password_hash": hash_password(DEMO_PASSWORD),
        "must_change_password": False,
        "language": demo.language,
    }
    if demo.codes_by == "mail":
        values.update(phone=None, email_code_on=True)
    with svc.state.begin() as conn:
        conn.execute(account.update().where(account.c.id == account_id).values(**values))
    svc.unlock(demo.email)
    return account_id


def ensure_ward(svc: Any, account_id: int, child: Person) -> None:
    from smart_auth.accounts.identities import add_ward

    error = add_ward(_service_for(svc, "CNP"), account_id, child.national_id)
    if error not in ("", "already"):
        raise SystemExit(f"demo guardian: the child could not be added ({error})")


def _oauth_cli(*args: str) -> dict[str, str]:
    """``fhir-gateway oauth ARGS`` as an operator runs it; the ``key: value`` lines it prints."""
    from gateway.cli_oauth import oauth

    result = CliRunner().invoke(oauth, list(args), catch_exceptions=False)
    if result.exit_code != 0:
        raise SystemExit(f"fhir-gateway oauth {args[0]}: {result.output.strip()}")
    return dict(re.findall(r"^(client_id|client_secret): (\S+)", result.output, re.MULTILINE))


def ensure_clients(store: Any, out: Path, portal_url: str, app_redirect: str) -> dict[str, str]:
    """The portal (confidential) and the demo SMART app (public, PKCE), registered through the
    oauth command once; their ids kept in ``out/clients.json``, the portal's secret in
    ``out/portal-secret`` (mode 0600)."""
    kept_file = out / "clients.json"
    kept = json.loads(kept_file.read_text()) if kept_file.is_file() else {}
    secret_file = out / "portal-secret"
    portal = store.client(kept.get("portal", ""))
    secret = secret_file.read_text().strip() if secret_file.is_file() else ""
    if portal is None or not secret or not portal.check_client_secret(secret):
        if portal is not None:
            store.deactivate_client(portal.client_id)
        made = _oauth_cli(
            "register-app",
            "--confidential",
            "--name",
            PORTAL_NAME,
            "--redirect-uri",
            f"{portal_url}/callback",
            "--scope",
            Gateway.scope,
        )
        kept["portal"], secret = made["client_id"], made["client_secret"]
        _private(secret_file, secret)
    elif set(portal.scope.split()) != set(Gateway.scope.split()):
        # registered by an earlier release that asked for other scopes (the EHR launch's)
        _oauth_cli("set-scope", portal.client_id, Gateway.scope)
    if store.client(kept.get("app", "")) is None:
        made = _oauth_cli("register-app", "--name", APP_NAME, "--redirect-uri", app_redirect)
        kept["app"] = made["client_id"]
    kept_file.write_text(json.dumps(kept, indent=1) + "\n")
    return {"portal": kept["portal"], "app": kept["app"], "portal_secret": secret}


def _private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(text + "\n")


def portal_env(out: Path, fhir_url: str, portal_url: str, client_id: str) -> Path:
    """The portal's settings for gunicorn, as ``KEY=value`` lines (``set -a; . file``)."""
    key_file = out / "portal-key"
    if not key_file.is_file():
        _private(key_file, secrets.token_hex(32))
    lines = {
        "FHIR_GATEWAY_PORTAL_FHIR_URL": fhir_url,
        "FHIR_GATEWAY_PORTAL_PUBLIC_URL": portal_url,
        "FHIR_GATEWAY_PORTAL_CLIENT_ID": client_id,
        "FHIR_GATEWAY_PORTAL_CLIENT_SECRET_FILE": str((out / "portal-secret").resolve()),
        "FHIR_GATEWAY_PORTAL_SECRET_KEY_FILE": str(key_file.resolve()),
        "FHIR_GATEWAY_PORTAL_HOSPITAL_NAME": "Spitalul Clinic Demo",
    }
    path = out / "portal.env"
    path.write_text("".join(f"{k}='{v}'\n" for k, v in lines.items()))
    return path


@dataclass
class Demo:
    accounts: dict[str, tuple[DemoAccount, Person, Person | None]]
    clients: dict[str, str]
    env_file: Path


def setup(
    out: Path, portal_url: str, app_redirect: str, config: dict[str, Any] | None = None
) -> Demo:
    """Everything above, with the gateway's settings from the environment (and ``config``)."""
    from gateway.app import create_app

    app = create_app(config)
    try:
        settings = app.config["SETTINGS"]
        svc = app.extensions["accounts"]
        out.mkdir(parents=True, exist_ok=True)
        people = pick_patients(settings.his_url, svc.clock().date())
        login_url = settings.base_url.removesuffix("/fhir") + "/account/login"
        made: dict[str, tuple[DemoAccount, Person, Person | None]] = {}
        for demo in ACCOUNTS:
            who, child = people[demo.key]
            account_id = ensure_account(svc, demo, who, login_url)
            if child is not None:
                ensure_ward(svc, account_id, child)
            made[demo.key] = (demo, who, child)
        clients = ensure_clients(app.extensions["smart_oauth"].store, out, portal_url, app_redirect)
        env_file = portal_env(out, settings.base_url, portal_url, clients["portal"])
    finally:
        app.extensions["state_engine"].dispose()
    return Demo(made, clients, env_file)


def describe(demo: Demo, portal_url: str) -> str:
    lines = [f"Demo accounts (password for each: {DEMO_PASSWORD}); sign in at {portal_url}"]
    for account_, who, child in demo.accounts.values():
        where = "the mail sink" if account_.codes_by == "mail" else "the SMS sink"
        line = (
            f"  {account_.email:28} {account_.description}: {who.name}, "
            f"{account_.national_id_kind} {who.national_id}; codes in {where}"
        )
        if child is not None:
            line += f"; in their care: {child.name}"
        lines.append(line)
    lines.append(f"Demo SMART app (public, PKCE): client_id {demo.clients['app']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("instance/demo"))
    parser.add_argument("--portal-url", default="http://127.0.0.1:8090")
    parser.add_argument("--app-redirect", default="http://127.0.0.1:8091/callback")
    args = parser.parse_args(argv)
    demo = setup(args.out, args.portal_url, args.app_redirect)
    print(describe(demo, args.portal_url), file=sys.stdout)


if __name__ == "__main__":
    main()
