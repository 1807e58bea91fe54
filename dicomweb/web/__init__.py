"""DICOMweb (PS3.18) over HTTP: the thin Flask adapter in front of a PACS backend.

``init_app`` registers the ``/dicomweb`` blueprint; each service lives in its own module:
``qido`` (search, PS3.18 §10.6), ``wado`` (retrieve, §10.4), ``stow`` (store, §10.5),
``export`` (a study as a ZIP of DICOM files), ``viewer`` (the image viewer and its links).
Shared request handling (the backend, access scopes, errors) is in ``context``.
"""

from __future__ import annotations

from flask import Flask

from dicomweb.backends.base import PacsBackend

from .context import DicomwebContext, blueprint


def init_app(app: Flask, context: DicomwebContext) -> None:
    """Serve DICOMweb under ``/dicomweb`` with ``context`` (its backend, access and cache)."""
    from . import export, qido, stow, unknown, viewer, wado  # noqa: F401  (routes register on import)

    app.extensions["dicomweb"] = context
    app.register_blueprint(blueprint, url_prefix="/dicomweb")


__all__ = ["DicomwebContext", "PacsBackend", "init_app"]
