"""The WSGI entry point for gunicorn: ``gunicorn gateway.wsgi:app``."""

import logging

from gateway.app import UNSHARED_KEY_NOTICE, create_app

app = create_app()
if not app.config["SETTINGS"].secret_key:
    # run by gunicorn directly, each worker makes a key of its own (``fhir-gateway serve``
    # shares one among its workers and says so itself)
    logging.getLogger("fhir_gateway").warning(
        UNSHARED_KEY_NOTICE + "; here each worker has its own key"
    )
