"""The WSGI entry point for gunicorn: ``gunicorn gateway.wsgi:app``."""

import logging

from gateway.app import UNSHARED_KEY_NOTICE, create_app, serving_notices

app = create_app()
for _notice in serving_notices(app.config["SETTINGS"]):
    if _notice == UNSHARED_KEY_NOTICE:
        # run by gunicorn directly, each worker makes a key of its own (``fhir-gateway serve``
        # shares one among its workers and says so itself)
        _notice += "; here each worker has its own key"
    logging.getLogger("fhir_gateway").warning(_notice)
