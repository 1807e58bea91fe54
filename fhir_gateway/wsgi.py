"""The WSGI entry point for gunicorn: ``gunicorn fhir_gateway.wsgi:app``."""

from . import create_app

app = create_app()
