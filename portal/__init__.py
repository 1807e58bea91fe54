"""The patient portal: a backend-for-frontend that is an ordinary HTTP client of the gateway's
SMART authorization server and FHIR API (it imports none of the gateway's internals, only its
settings). Tokens stay in its server-side session store; the browser holds an opaque id."""
