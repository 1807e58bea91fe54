"""The gateway's own pages can build on NHS.UK frontend's components as Jinja macros."""

from __future__ import annotations

import re

from flask import Flask, render_template_string

from smart_auth.design import use_components


def test_a_component_renders_with_absent_nested_parameters() -> None:
    app = Flask(__name__)
    use_components(app)
    page = (
        '{% from "nhsuk/components/input/macro.jinja" import input %}'
        '{{ input({"id": "email", "name": "email", "label": {"text": "Email"}}) }}'
    )
    with app.test_request_context("/"):
        html = render_template_string(page)
    tidy = re.sub(r"\s+", " ", html)
    assert re.search(r'<label class="nhsuk-label" for="email" >\s*Email\s*</label>', tidy)
    assert '<input class="nhsuk-input" id="email" name="email" type="text" >' in tidy
    assert "aria-describedby" not in tidy  # no hint, no error: nothing to describe it
