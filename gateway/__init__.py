"""The composition root: ``create_app``, settings, the CLI and the server. Imported by nothing
of the gateway's own packages; it builds them and wires them together."""
