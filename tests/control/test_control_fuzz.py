"""Fuzzing the control server from its own OpenAPI document, with schemathesis.

The application is driven in-process through its ASGI interface, lifespan included, so every
measurement the fuzzer provokes runs the real pipeline. It may dial only a random /24 of
127.0.0.0/8 where nothing listens, and asks 127.0.0.1:9, where nothing answers, for names: whatever
URL the fuzzer invents, no packet leaves loopback, and every measurement ends within a second.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable
from typing import Any

import pytest

pytest.importorskip("fastapi")
schemathesis = pytest.importorskip("schemathesis")

from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from schemathesis import BaseSchema, Case, GenerationMode, Response  # noqa: E402
from schemathesis.specs.openapi.checks import positive_data_acceptance  # noqa: E402

from censorcheck.control.server import ServerConfig, create_app  # noqa: E402
from censorcheck.lab import random_network  # noqa: E402
from censorcheck.measure.bogons import IPNetwork  # noqa: E402
from censorcheck.settings import Settings  # noqa: E402

TOKEN = "fuzz-token-" + "f" * 24
NET: IPNetwork = ipaddress.ip_network(random_network())
EXAMPLES = 60
OPERATIONS = {
    ("GET", "/v1/health"),
    ("GET", "/v1/limits"),
    ("POST", "/v1/measure"),
    ("GET", "/ooni/"),
    ("POST", "/ooni/"),
}
MEASURING = ("/v1/measure", "/ooni/")


def _app() -> Any:
    measuring = Settings(
        vantage="fuzz",
        resolvers=["udp://127.0.0.1:9"],
        control_resolvers=[],
        source_address=str(NET.network_address + 2),
        ipv6="off",
        timeout=0.3,
        dns_linger_max=0,
    )
    config = ServerConfig(
        tokens=(TOKEN,),
        settings=measuring,
        only_networks=(NET,),
        max_deadline=1.0,
        # Limits high enough that the fuzzer never meets them: 429 is tested elsewhere.
        rate=1e6,
        burst=10**6,
        max_in_flight=10_000,
    )
    return create_app(config)


def _schema(auth: dict[str, Any]) -> BaseSchema:
    # 413 is a right answer to negative data too: a body over the size cap is refused before
    # its contents are read, whatever else is wrong with it.
    rejected = [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429, "5XX"]
    config = schemathesis.Config.from_dict(
        {
            "auth": auth,
            "checks": {"negative_data_rejection": {"expected-statuses": rejected}},
        }
    )
    schema: BaseSchema = schemathesis.openapi.from_asgi("/v1/openapi.json", _app(), config=config)
    return schema


@pytest.fixture(scope="module")
def api() -> BaseSchema:
    # The token as schemathesis' own credentials, so that its ignored_auth check knows them: it
    # sends each successful request again without them and with forged ones, expecting 401.
    return _schema({"openapi": {"HTTPBearer": {"bearer": TOKEN}}})


@pytest.fixture(scope="module")
def anonymous() -> BaseSchema:
    """The same API fuzzed by a client with no token: at most a made-up one."""
    return _schema({})


def test_the_schema_documents_every_operation_and_its_refusals(api: BaseSchema) -> None:
    paths = api.raw_schema["paths"]
    found = {(m.upper(), p) for p, ops in paths.items() for m in ops}
    assert found == OPERATIONS  # a new endpoint must be added to the fuzzing below
    assert {"401", "413", "429", "422"} <= set(paths["/v1/measure"]["post"]["responses"])
    assert "401" in paths["/v1/limits"]["get"]["responses"]
    for path in ("/v1/limits", "/v1/measure"):
        assert next(iter(paths[path].values()))["security"] == [{"HTTPBearer": []}]
    assert "security" not in paths["/v1/health"]["get"]


# --- URLs worth measuring ----------------------------------------------------------------------
# The schema says only that a URL is a string, so most generated ones are refused (422) before
# anything is measured; these reach the pipeline.


def _bracketed(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str:
    return f"[{ip}]" if ip.version == 6 else str(ip)


_HOSTS = st.one_of(
    st.ip_addresses(network=NET).map(_bracketed),  # dialled: nothing listens, refused at once
    st.ip_addresses().map(_bracketed),  # anywhere else: the guard must refuse it
    st.from_regex(r"[a-z0-9-]{1,12}(\.[a-z0-9-]{1,12}){0,3}", fullmatch=True),  # looked up
    st.sampled_from(["localhost", "127.1", "2130706433", "0x7f.1", "[::1]", "[::ffff:7f00:1]"]),
)
_URLS = st.builds(
    "{}://{}{}/{}".format,
    st.sampled_from(["http", "https", "HTTP"]),
    _HOSTS,
    st.one_of(st.just(""), st.integers(1, 65535).map(":{}".format)),
    st.text(max_size=40),
)
_ADDRESSES = st.lists(
    st.one_of(st.ip_addresses(network=NET), st.ip_addresses()).map(str), max_size=8
)


def _fuzz(
    schema: BaseSchema,
    method: str,
    path: str,
    mode: GenerationMode,
    examine: Callable[[Case[Any], Response], None],
) -> list[int]:
    """Send ``EXAMPLES`` generated requests, validate every answer; return the statuses."""
    operation = schema[path][method]
    statuses: list[int] = []
    measuring = path in MEASURING and mode is GenerationMode.POSITIVE

    @given(case=operation.as_strategy(generation_mode=mode), data=st.data())
    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )
    def run(case: Case[Any], data: st.DataObject) -> None:
        if measuring and isinstance(case.body, dict) and path == "/ooni/":
            body = dict(case.body)
            body["http_request"] = data.draw(_URLS, label="url")
            addresses = data.draw(_ADDRESSES, label="addresses")
            body["tcp_connect"] = [f"{_bracketed(ipaddress.ip_address(a))}:443" for a in addresses]
            case.body = body
        elif measuring and isinstance(case.body, dict):
            body: dict[str, Any] = dict(case.body)
            body["url"] = data.draw(_URLS, label="url")
            body["addresses"] = data.draw(_ADDRESSES, label="addresses")
            agent = st.fixed_dictionaries({"user-agent": st.text(max_size=40)})
            body["headers"] = data.draw(st.one_of(st.just({}), agent), label="headers")
            case.body = body
        response = case.call_and_validate(
            # A schema-valid string is not always a URL the protocol accepts: that 422 is right.
            excluded_checks=[positive_data_acceptance] if path in MEASURING else [],
        )
        assert response.status_code < 500, response.text
        statuses.append(response.status_code)
        examine(case, response)

    run()
    return statuses


_CASES = [
    ("GET", "/v1/health", GenerationMode.POSITIVE),  # it takes nothing, so nothing to negate
    ("GET", "/v1/limits", GenerationMode.POSITIVE),
    ("GET", "/v1/limits", GenerationMode.NEGATIVE),
    ("POST", "/v1/measure", GenerationMode.POSITIVE),
    ("POST", "/v1/measure", GenerationMode.NEGATIVE),
    ("GET", "/ooni/", GenerationMode.POSITIVE),
    ("POST", "/ooni/", GenerationMode.POSITIVE),
    ("POST", "/ooni/", GenerationMode.NEGATIVE),
]


@pytest.mark.parametrize(("method", "path", "mode"), _CASES)
def test_with_the_token_no_answer_is_a_server_error_or_off_schema(
    api: BaseSchema, method: str, path: str, mode: GenerationMode
) -> None:
    statuses = _fuzz(api, method, path, mode, lambda case, response: None)
    if mode is GenerationMode.POSITIVE:
        # Positive control: the fuzzing got past the token and, for measure, into the pipeline.
        assert 200 in statuses, sorted(set(statuses))


@pytest.mark.parametrize(("method", "path", "mode"), _CASES)
def test_without_the_token_nothing_but_health_is_served(
    anonymous: BaseSchema, method: str, path: str, mode: GenerationMode
) -> None:
    def refused(case: Case[Any], response: Response) -> None:
        if path == "/v1/health":
            return
        status = response.status_code
        assert status in (400, 401, 413, 422), (status, case.headers, case.body)
        if status == 422:
            # A body that is not JSON at all is refused before the token is looked at; what a
            # valid request looks like is told only to a token holder.
            assert {e["type"] for e in response.json()["detail"]} == {"json_invalid"}

    statuses = _fuzz(anonymous, method, path, mode, refused)
    if path != "/v1/health":
        assert 401 in statuses
