"""FHIR R4 health-data gateway over a hospital's HIS and PACS."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask


def create_app(config: Any = None, **kwargs: Any) -> Flask:
    """The application factory (``fhir_gateway.app.create_app``), imported on first use."""
    from .app import create_app as _create_app

    return _create_app(config, **kwargs)


__all__ = ["create_app"]
