"""The run's SSL contexts (measure/probes/context.py): the chain-only one, for handshakes with a
neutral SNI, is built on first use and then shared by every target's copy of the context."""

from __future__ import annotations

import asyncio
import ssl

from censorcheck.measure.probes.context import ProbeContext
from censorcheck.settings import Settings


def test_the_chain_only_context_is_built_once_and_trusts_what_verify_trusts() -> None:
    ctx = ProbeContext.create(Settings(), ipv6=False)
    try:
        chain = ctx.for_target(1.0).chain_only
        assert ctx.chain_only is chain and ctx.for_target(2.0).chain_only is chain
        assert chain is not ctx.verify
        # As strict as ``verify`` about the chain; only the name is not checked.
        assert (chain.verify_mode, chain.check_hostname) == (ssl.CERT_REQUIRED, False)
        assert (ctx.verify.verify_mode, ctx.verify.check_hostname) == (ssl.CERT_REQUIRED, True)
        assert chain.verify_flags == ctx.verify.verify_flags
        assert chain.get_ca_certs() == ctx.verify.get_ca_certs()
    finally:
        asyncio.run(ctx.aclose())
