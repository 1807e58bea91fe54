"""The design of the gateway's own pages (account, sign-in, second factor, consent, sharing,
results without an account): the same NHS.UK frontend stylesheet as the portal, served by the
gateway itself (never a CDN), and a small theme with the hospital's colour. Pages extend
``frame.html`` (skip link, header, language switch, footer), which links them with
``{% include "design_head.html" %}``; ``fields.html`` gives NHS.UK frontend's components the page's
words where they would say their own in English."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, abort
from jinja2 import ChainableUndefined

#: where ``make setup`` puts the npm assets (scripts/install-portal-assets.sh)
ASSETS = Path(__file__).resolve().parent.parent / "var" / "portal-assets"


def init_app(app: Flask, settings: Any, assets: Path = ASSETS) -> None:
    colour = settings.portal_colour
    design = Blueprint("design", __name__, template_folder="templates")

    kept: dict[str, bytes] = {}

    @design.get("/design/nhsuk-frontend.min.css")
    def stylesheet() -> Response:
        if "css" not in kept:
            path = assets / "nhsuk-frontend.min.css"
            if not path.is_file():
                abort(404)
            kept["css"] = path.read_bytes()
        return Response(kept["css"], mimetype="text/css", headers={"Cache-Control": "max-age=3600"})

    @design.get("/design/theme.css")
    def theme() -> Response:
        css = (
            f".portal-header{{background-color:{colour}}}"
            ".nhsuk-button:not(.nhsuk-button--secondary):not(.nhsuk-button--warning)"
            f"{{background-color:{colour}}}"
            ".portal-header a,.portal-header .nhsuk-header__service-name{color:#fff}"
            ".portal-inline{display:inline-block;margin-right:8px}"
        )
        return Response(css, mimetype="text/css", headers={"Cache-Control": "max-age=300"})

    app.register_blueprint(design)
    use_components(app)

    @app.context_processor
    def hospital() -> dict[str, Any]:
        return {"hospital_name": settings.portal_hospital_name}


def use_components(app: Flask) -> None:
    """Let the app's templates import NHS.UK frontend's components as Jinja macros
    (``{% from "nhsuk/components/button/macro.jinja" import button %}``). The macros read
    nested parameters that may be absent (``params.hint.text``), which needs ChainableUndefined;
    the package's page template is not used: it writes an inline script the pages' CSP refuses."""
    app.jinja_env.undefined = ChainableUndefined
    app.register_blueprint(
        Blueprint("nhsuk_frontend", "nhsuk_frontend_jinja", template_folder="templates")
    )
