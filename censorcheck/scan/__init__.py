"""``dns-scan``: the Satellite technique, asking many remote resolvers about many domains.

``await scan(domains, resolvers, settings)`` returns the scan document (``ScanDocument``);
``scan_sync`` is the same for callers without an event loop. See ``scanner`` for the phases,
``verdict`` for the rules and the README's dns-scan section for the methodology.

May import: the root contracts and, from ``measure``, the DNS probe and transports, failure codes,
bogons and text-file parsing it shares with a run. Never imports ``results``, ``unattended``,
``lab`` or ``cli``.
"""

from __future__ import annotations

from collections.abc import Sequence

from censorcheck.measure.api import run_blocking
from censorcheck.scan.models import ScanDocument, ScanSettings
from censorcheck.scan.resolvers import ResolverSpec, load_resolvers, parse_resolvers
from censorcheck.scan.scanner import OnProgress, scan

__all__ = [
    "OnProgress",
    "ResolverSpec",
    "ScanDocument",
    "ScanSettings",
    "load_resolvers",
    "parse_resolvers",
    "scan",
    "scan_sync",
]


def scan_sync(
    domains: Sequence[str],
    resolvers: Sequence[ResolverSpec],
    settings: ScanSettings,
    on_progress: OnProgress | None = None,
) -> ScanDocument:
    """Blocking wrapper around :func:`scan`."""
    return run_blocking(scan(domains, resolvers, settings, on_progress))
