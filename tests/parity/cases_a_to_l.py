"""OONI's QA scenarios from badssl.go to localhost.go (probe-cli internal/webconnectivityqa)."""

from __future__ import annotations

from tests.parity.model import (
    DNS,
    DOWN,
    FINE,
    HTTP_DIFF,
    HTTP_FAILURE,
    MISCONFIGURED,
    NO_FETCH,
    NULL,
    OK,
    Parity,
    blocked,
    down,
    everywhere,
    unsure,
)

A_TO_L: tuple[Parity, ...] = (
    # --- badssl.go -------------------------------------------------------------------------
    Parity("badSSLWithUnknownAuthorityWithConsistentDNS",
           "The site's own certificate is from an unknown CA, for everyone.", DOWN,
           {"resolvers": unsure("tls.untrusted"), "server": down("tls.untrusted"),
            "ooni": down("tls.untrusted")}, lab="selfsigned", why=MISCONFIGURED),
    Parity("badSSLWithExpiredCertificate", "The site's own certificate is expired, for everyone.",
           DOWN, {"resolvers": unsure("tls.expired"), "server": down("tls.expired"),
                  "ooni": down("tls.expired")},
           rows={"resolvers": "qa: expired certificate, resolvers only",
                 "server": "qa: expired certificate for everyone, server",
                 "ooni": "qa ooni: expired certificate for everyone"}, why=MISCONFIGURED),
    Parity("badSSLWithWrongServerName", "The site's own certificate names another host.", DOWN,
           {"resolvers": unsure("tls.hostname_mismatch"), "server": down("tls.hostname_mismatch")},
           rows={"resolvers": "qa: certificate for another name, resolvers only",
                 "server": "qa: certificate for another name for everyone, server"},
           why=MISCONFIGURED),
    Parity("badSSLWithUnknownAuthorityWithInconsistentDNS",
           "The resolver points the name at a server with an untrusted certificate.", DNS,
           everywhere(blocked("dns", "dns.inconsistent")), lab="dns-blockpage"),
    # --- cloudflare.go ---------------------------------------------------------------------
    Parity("cloudflareCAPTCHAWithHTTP",
           "The helper, in a datacenter, gets a CAPTCHA; the probe gets the site (plain HTTP).",
           HTTP_DIFF, {"server": unsure("http.diff")},
           rows={"server": "server: same address, a datacenter control got a challenge page"},
           why="OONI's own QA accepts this false http-diff. Our page is the longer one and the "
               "control's is not a 2xx: a challenge shown to a datacenter, not a blockpage."),
    Parity("cloudflareCAPTCHAWithHTTPS", "As above over https: the page came through a "
           "validated handshake.", FINE, {"server": OK},
           rows={"server": "server: an https page unlike the control's is still the site's own"}),
    # --- control.go ------------------------------------------------------------------------
    Parity("controlFailureWithSuccessfulHTTPWebsite",
           "Every helper is reset by SNI; the plain-HTTP site works.", NULL,
           {"server": unsure("dns.unverified"), "ooni": unsure("dns.unverified")},
           rows={"server": "the control server failed and the page is plain HTTP: nothing "
                           "vouches",
                 "ooni": "qa ooni: helper unreachable, plain-HTTP page"}),
    Parity("controlFailureWithSuccessfulHTTPSWebsite",
           "Every helper is reset by SNI; the https site works.", FINE,
           {"server": OK, "ooni": OK},
           rows={"server": "qa: control server unreachable, https page validated",
                 "ooni": "qa ooni: helper unreachable, https page validated"}),
    # --- dnsblocking.go --------------------------------------------------------------------
    Parity("dnsBlockingAndroidDNSCacheNoData",
           "The ISP resolver drops the name; Android's getaddrinfo says it has no data.", DNS,
           {"resolvers": blocked("dns", "dns.no_answer")},
           rows={"resolvers": "qa: no address from the probe's resolver, control resolves"}),
    Parity("dnsBlockingBOGON", "The ISP resolver answers a private address (10.10.34.35).", DNS,
           {"resolvers": blocked("dns", "dns.bogon")},
           rows={"resolvers": "qa: a private address, control public"}),
    Parity("dnsBlockingNXDOMAIN", "The ISP resolver says NXDOMAIN.", DNS,
           everywhere(blocked("dns", "dns.nxdomain")), lab="dns-nxdomain"),
    # --- dnshijacking.go -------------------------------------------------------------------
    Parity("dnsHijackingToLocalhostWithHTTP", "A forged DNS answer of 127.0.0.1, plain HTTP.",
           DNS, everywhere(blocked("dns", "dns.bogon")), lab="dns-loopback-http"),
    Parity("dnsHijackingToLocalhostWithHTTPS", "A forged DNS answer of 127.0.0.1, https.", DNS,
           everywhere(blocked("dns", "dns.bogon")), lab="dns-loopback"),
    Parity("dnsHijackingToProxyWithHTTPURL",
           "A forged answer points at a transparent proxy that serves the real page (HTTP).",
           FINE, everywhere(OK),
           rows={"resolvers": "geo-DNS edge serving this vantage the page it gets at the "
                              "control's address",
                 "server": "server: a resolver pointing at a transparent proxy that serves the "
                           "real page",
                 "ooni": "qa ooni: a transparent proxy serving the real page, as the helper "
                         "titles it"}),
    Parity("dnsHijackingToProxyWithHTTPSURL",
           "A forged answer points at a proxy that passes TLS through (a valid certificate).",
           FINE, everywhere(OK), lab="cdn"),
    # --- ghost.go --------------------------------------------------------------------------
    Parity("ghostDNSBlockingWithHTTP",
           "The name exists nowhere, yet the ISP resolver answers a blockpage server (HTTP).",
           DNS, {"resolvers": unsure("dns.inconsistent")},
           rows={"resolvers": "qa: ghost name, plain HTTP, a blockpage from the resolver's "
                              "address"},
           why="The control says the name does not exist, so nothing is being denied: a claim "
               "that a government blocks a site needs a site. We record the forged answer."),
    Parity("ghostDNSBlockingWithHTTPS", "As above over https: refused at the forged address.",
           DNS, {"resolvers": unsure("dns.inconsistent")},
           rows={"resolvers": "qa: ghost name, https, refused at the resolver's address"},
           why="As for ghostDNSBlockingWithHTTP: no site exists to be blocked."),
    # --- httpblocking.go -------------------------------------------------------------------
    Parity("httpBlockingConnectionReset", "RST after a plain-HTTP request naming the host.",
           HTTP_FAILURE, everywhere(blocked("http", "http.reset")), lab="http-reset"),
    # --- httpdiff.go -----------------------------------------------------------------------
    Parity("httpDiffWithConsistentDNS",
           "A box answers a plain-HTTP request with a notice, at the site's address.", HTTP_DIFF,
           {"resolvers": OK, "server": blocked("http", "http.diff"),
            "ooni": unsure("http.diff")}, lab="http-generic-blockpage",
           why=f"{NO_FETCH}: an unknown notice is just a page (a known limit; a fingerprint "
               "catches the known ones). OONI's helper sends no body, so its page cannot be "
               "compared: unlike is not shown to be another page."),
    Parity("httpDiffWithInconsistentDNS",
           "A forged answer sends plain HTTP to an ISP server that serves a notice.", DNS,
           everywhere(blocked("dns", "dns.inconsistent")), lab="dns-notice-http"),
    # --- idna.go ---------------------------------------------------------------------------
    Parity("idnaWithoutCensorshipLowercase", "A working site under an IDNA name.", FINE,
           {"resolvers": OK}, rows={"resolvers": "qa: an IDNA name, page from the control's "
                                                  "address"}),
    Parity("idnaWithoutCensorshipWithFirstLetterUppercase",
           "The same IDNA name with an upper-case first letter.", FINE, {"resolvers": OK},
           rows={"resolvers": "qa: an IDNA name, page from the control's address"}),
    # --- largefile.go ----------------------------------------------------------------------
    Parity("largeFileWithHTTP", "A very large body over plain HTTP.", FINE, everywhere(OK),
           lab="huge-http"),
    Parity("largeFileWithHTTPS", "A very large body over https.", FINE, everywhere(OK),
           lab="huge"),
    # --- localhost.go ----------------------------------------------------------------------
    Parity("localhostWithHTTP", "Every resolver answers 127.0.0.1 (plain HTTP).", DOWN,
           {"resolvers": down("dns.bogon")},
           rows={"resolvers": "qa: loopback from both resolvers, plain HTTP"}),
    Parity("localhostWithHTTPS", "Every resolver answers 127.0.0.1 (https).", DOWN,
           {"resolvers": down("dns.bogon")},
           rows={"resolvers": "qa: loopback from both resolvers, https"}),
)  # fmt: skip
