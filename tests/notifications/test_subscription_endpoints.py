"""Where notifications may go (server-side request forgery): private, loopback, link-local,
cloud-metadata, unique-local and mapped addresses are refused unless configured, names are
checked against every address they resolve to, the POST connects to the checked address
(a name resolving elsewhere at connection time is never followed), and redirects are not
followed. The local endpoint is a real HTTP server."""

from __future__ import annotations

import ipaddress

import pytest

from notifications.endpoints import EndpointRefused, EndpointRules, post

from .subscribers import Endpoint, endpoint  # noqa: F401 (a fixture)

STRICT = EndpointRules(allow_http=True)
LOCAL = EndpointRules(allow_http=True, allow_private=True)


@pytest.mark.parametrize(
    "url",
    [
        "http://10.0.0.7/hook",
        "http://192.168.1.2/hook",
        "http://127.0.0.1:8080/hook",
        "http://169.254.169.254/latest/meta-data/",
        "http://[::1]/hook",
        "http://[fd00::5]/hook",
        "http://[fe80::1]/hook",
        "http://[::ffff:10.0.0.7]/hook",
        "http://0.0.0.0/hook",
        "http://224.0.0.1/hook",
        "http://240.0.0.1/hook",
        "http://100.64.0.1/hook",
    ],
)
def test_addresses_that_are_not_public_are_refused(url: str) -> None:
    with pytest.raises(EndpointRefused):
        STRICT.check(url)


def test_what_the_settings_allow() -> None:
    assert LOCAL.check("http://127.0.0.1:8080/hook") == ("127.0.0.1", 8080, "127.0.0.1")
    assert LOCAL.check("http://10.0.0.7/hook")[2] == "10.0.0.7"
    LOCAL.check("http://[::1]/hook")
    # allowing private networks never opens link-local (cloud metadata) or multicast ones
    for url in ("http://169.254.169.254/", "http://224.0.0.1/", "http://[fe80::1]/"):
        with pytest.raises(EndpointRefused):
            LOCAL.check(url)
    listed = EndpointRules(allowed_networks=(ipaddress.ip_network("10.20.0.0/16"),))
    assert listed.check("https://10.20.3.4/hook")[2] == "10.20.3.4"
    with pytest.raises(EndpointRefused):
        listed.check("https://10.21.3.4/hook")
    # public addresses pass; plain http only where allowed
    assert EndpointRules().check("https://93.184.215.14/hook")[2] == "93.184.215.14"
    with pytest.raises(EndpointRefused, match="https"):
        EndpointRules().check("http://93.184.215.14/hook")
    with pytest.raises(EndpointRefused, match="credentials"):
        EndpointRules().check("https://user:pw@93.184.215.14/hook")


def test_a_name_is_checked_against_every_address_it_resolves_to() -> None:
    answers = {"mixed.example": ["93.184.215.14", "10.0.0.7"], "gone.example": []}
    rules = EndpointRules(resolve=lambda host, port: answers.get(host, []))
    with pytest.raises(EndpointRefused, match="private"):
        rules.check("https://mixed.example/hook")
    with pytest.raises(EndpointRefused, match="resolve"):
        rules.check("https://gone.example/hook")


def test_the_post_goes_to_the_checked_address_under_the_hosts_name(
    endpoint: Endpoint,  # noqa: F811
) -> None:
    port = int(endpoint.url.rsplit(":", 1)[1])
    looked_up: list[str] = []

    def resolve(host: str, _port: int) -> list[str]:
        looked_up.append(host)
        return {"hooks.example": ["127.0.0.1"]}.get(host, [])

    rules = EndpointRules(allow_http=True, allow_private=True, resolve=resolve)
    done = post(rules, f"http://hooks.example:{port}/pinned", b"{}", {}, 5.0)
    assert done.status == 200
    (got,) = endpoint.at("/pinned")
    assert got.headers["Host"] == f"hooks.example:{port}"
    assert looked_up == ["hooks.example"]


def test_a_name_that_turns_private_is_refused_at_the_post(endpoint: Endpoint) -> None:  # noqa: F811
    """DNS rebinding: public when the subscription was made, internal when a notification
    goes. Every POST checks again and connects only to what it checked."""
    answers = iter([["93.184.215.14"], ["127.0.0.1"]])
    rules = EndpointRules(allow_http=True, resolve=lambda host, port: next(answers))
    port = int(endpoint.url.rsplit(":", 1)[1])
    url = f"http://rebound.example:{port}/rebound"
    rules.check(url)  # at creation: public
    with pytest.raises(EndpointRefused):
        post(rules, url, b"{}", {}, 5.0)
    assert endpoint.at("/rebound") == []


def test_redirects_are_not_followed(endpoint: Endpoint) -> None:  # noqa: F811
    endpoint.redirect.add("/moved")
    done = post(LOCAL, f"{endpoint.url}/moved", b"{}", {}, 5.0)
    assert done.status == 302
    assert endpoint.at("/redirected") == []
