# The two commands a newcomer needs (see README): `make demo` and `make test`.
# Both set up everything they need: Debian packages, the virtual environment, Python packages.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
PIP    := $(VENV)/bin/pip
# the demo keeps the gateway's files (state, outbox, cache, its Orthanc) in instance/ here
export FHIR_GATEWAY_DATA_DIR ?= $(CURDIR)/instance
DEMO_HIS ?= sqlite:///$(CURDIR)/instance/his.sqlite
DEMO_PATIENTS ?= 200
# imaging orders whose synthetic studies the demo's Orthanc receives (all: a few minutes)
DEMO_STUDIES ?= 40
DEMO_PORTAL ?= http://127.0.0.1:8090
# the demo gateway: its authorization server, SMS codes (mailed codes for accounts without a
# mobile), mail and SMS to the demo's sinks (demo/sinks.py), which print every message
DEMO_ENV = FHIR_GATEWAY_HIS_URL=$(DEMO_HIS) FHIR_GATEWAY_PACS_ENABLED=true \
	FHIR_GATEWAY_LOG_JSON=false FHIR_GATEWAY_OHIF_DIR=$(CURDIR)/var/ohif/dist \
	FHIR_GATEWAY_ACCOUNTS_SECOND_FACTOR=sms FHIR_GATEWAY_SMTP_HOST=127.0.0.1 \
	FHIR_GATEWAY_SMTP_PORT=8025 FHIR_GATEWAY_SMS_URL=http://127.0.0.1:8026/sms
DEBIAN_PACKAGES := fonts-dejavu-core chromium libmagic1
# the scale-out test: two gateway hosts behind a load balancer, sharing Redis
DEPLOY_PACKAGES := haproxy redis-server iproute2
PACS_PACKAGES := orthanc orthanc-dicomweb orthanc-gdcm dcmtk
VIEWER_PACKAGES := nodejs

.PHONY: setup demo demo-stop test lint bench clean

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -e '.[test,bench,demo]'
	touch $@

setup: $(VENV)/.installed
	scripts/install-debian-deps.sh $(DEBIAN_PACKAGES) $(PACS_PACKAGES) $(VIEWER_PACKAGES) \
		$(DEPLOY_PACKAGES)
	scripts/install-ohif.sh var/ohif
	scripts/install-fhirclient-js.sh var/fhirclient-js
	scripts/install-portal-assets.sh var/portal-assets

instance/his.sqlite: | setup
	FHIR_GATEWAY_HIS_URL=$(DEMO_HIS) $(VENV)/bin/fhir-gateway his seed \
		--patients $(DEMO_PATIENTS) --seed 1 --replace

## Set up, build the demo HIS and PACS, create the demo accounts and clients (demo/setup.py),
## and run the gateway at http://127.0.0.1:8080/fhir with its authorization server (DICOMweb at
## /dicomweb, the viewer at /viewer), the patient portal at $(DEMO_PORTAL), a job-queue worker,
## and the mail and SMS sinks that print every message (kept in instance/demo-messages);
## `make demo-stop` stops the demo's Orthanc.
demo: setup instance/his.sqlite
	$(VENV)/bin/fhir-gateway pacs status >/dev/null 2>&1 || $(VENV)/bin/fhir-gateway pacs start
	$(VENV)/bin/fhir-gateway pacs load-his --his-url $(DEMO_HIS) --max-size 128 \
		--limit $(DEMO_STUDIES)
	FHIR_GATEWAY_HIS_URL=$(DEMO_HIS) FHIR_GATEWAY_LOG_JSON=false $(PY) -m demo.setup \
		--out instance/demo --portal-url $(DEMO_PORTAL)
	$(PY) -m demo.sinks --dir instance/demo-messages --smtp-port 8025 --sms-port 8026 & sinks=$$!; \
	$(DEMO_ENV) $(VENV)/bin/fhir-gateway worker & worker=$$!; \
	(set -a; . instance/demo/portal.env; set +a; exec $(VENV)/bin/gunicorn --workers 2 \
		--threads 4 --bind $(DEMO_PORTAL:http://%=%) 'portal.app:create_portal()') & portal=$$!; \
	trap 'kill $$sinks $$worker $$portal 2>/dev/null' EXIT INT TERM; \
	$(DEMO_ENV) $(VENV)/bin/fhir-gateway serve

demo-stop:
	$(VENV)/bin/fhir-gateway pacs stop

## Set up and run every test (SQLite always; PostgreSQL where reachable)
test: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy access gateway fhir_gateway mappers conformance dicomweb smart_auth notifications demo portal
	$(PY) -m pytest -n 2 --dist loadfile

lint: setup
	$(VENV)/bin/lint-imports
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy access gateway fhir_gateway mappers conformance dicomweb smart_auth notifications demo portal

## Benchmarks (see BENCHMARKS.md)
bench: setup
	scripts/install-debian-deps.sh wrk
	$(PY) -m bench.run

clean:
	rm -rf instance var .pytest_cache
