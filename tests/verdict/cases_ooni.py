"""Verdict rows with an OONI test helper as the control, built from its answers through the same
mapping the client uses: a helper measures the probe's addresses as our server does, but its
fetch has no address and no body, so a page alone never makes a claim."""

from __future__ import annotations

import copy
from typing import Any

from censorcheck.control.ooni import THResponse, to_control
from censorcheck.models import Control, TCPConnect
from tests.ooni_th import document
from tests.verdict.builders import (
    HTTP_URL,
    INTERCEPTED,
    NEUTRAL_HOST_CERT,
    NOTICE,
    SITE,
    TLS_RESET_TWICE,
    Case,
    body,
    fetched,
    q,
)


def helper(url: str = "https://site.example/", **changes: Any) -> Control:
    """The helper's answer for a working site, with ``changes`` to its top-level keys."""
    answer = copy.deepcopy(document("site_ok"))
    answer.update(changes)
    return to_control(THResponse.model_validate(answer), url, "ooni:th.example")


HELPER_DOWN = Control(source="ooni", failure="control.unreachable")
# What the helper's fetch of the plain-HTTP site reports: the site's page, without its body.
HELPER_HTTP = helper(HTTP_URL)

OONI_CASES = [
    Case("ooni: SNI reset where the helper's handshake validated", ("blocked", "tls", "tls.reset"),
         control=helper(), tls=[TLS_RESET_TWICE], http=None, cites=("/tls/0", "/control/tls/0")),
    Case("ooni: no connection where the helper connected", ("blocked", "tcp", "tcp.timeout"),
         control=helper(), tls=[], http=None,
         tcp=[TCPConnect(address=SITE, port=443, failure="tcp.timeout")]),
    Case("ooni: NXDOMAIN from the probe's resolver, addresses from the helper",
         ("blocked", "dns", "dns.nxdomain"), control=helper(),
         dns=[q(rcode="NXDOMAIN", failure="dns.nxdomain")], tcp=[], tls=[], http=None),
    Case("ooni: NXDOMAIN for the helper too is no claim", ("down", None, "dns.nxdomain"),
         control=to_control(THResponse.model_validate(document("nxdomain")),
                            "https://site.example/", "ooni:th.example"),
         dns=[q(rcode="NXDOMAIN", failure="dns.nxdomain")], tcp=[], tls=[], http=None),
    Case("ooni: another plain-HTTP page, same address, the helper's has no body",
         ("inconclusive", None, "http.diff"), url=HTTP_URL, control=HELPER_HTTP,
         tcp=[TCPConnect(address=SITE, port=80)], tls=[],
         http=fetched((HTTP_URL, body(NOTICE)))),
    Case("ooni: another plain-HTTP page from an address the helper never got",
         ("inconclusive", None, "dns.inconsistent"), url=HTTP_URL, control=HELPER_HTTP,
         dns=[q(["185.18.54.9"])], tcp=[TCPConnect(address="185.18.54.9", port=80)], tls=[],
         http=fetched((HTTP_URL, body(NOTICE)), address="185.18.54.9")),
    Case("ooni: the request cut where the helper fetched, but at no known address",
         ("inconclusive", None, "http.reset"), url=HTTP_URL, control=HELPER_HTTP,
         tcp=[TCPConnect(address=SITE, port=80)], tls=[],
         http=fetched((HTTP_URL, None), failure="http.reset")),
    Case("ooni: the helper failing and the connection failing", (
         "inconclusive", None, "tcp.timeout"), control=HELPER_DOWN, tls=[], http=None,
         tcp=[TCPConnect(address=SITE, port=443, failure="tcp.timeout")]),
    Case("ooni: the helper failing and NXDOMAIN", ("inconclusive", None, "dns.nxdomain"),
         control=HELPER_DOWN, dns=[q(rcode="NXDOMAIN", failure="dns.nxdomain")], tcp=[], tls=[],
         http=None),
    Case("ooni: the helper failing and SNI reset", ("inconclusive", None, "tls.reset"),
         control=HELPER_DOWN, tls=[TLS_RESET_TWICE], http=None),
    # The helper validated the host's certificate at the address but records no leaf; the
    # probe's neutral handshake got the host's own, so the interception is the probe's to show.
    Case("ooni: an untrusted leaf where the helper validated, the neutral name the host's",
         ("blocked", "tls", "tls.mitm"), control=helper(), http=None,
         tls=[INTERCEPTED.model_copy(update={"neutral": NEUTRAL_HOST_CERT})],
         cites=("/tls/0/neutral", "/control/tls/0")),
    Case("ooni: an untrusted leaf where the helper validated, no neutral handshake",
         ("inconclusive", None, "tls.untrusted"), control=helper(), http=None,
         tls=[INTERCEPTED]),
    Case("ooni: a working site is accessible", ("accessible", None, "accessible"),
         control=helper()),
]  # fmt: skip
