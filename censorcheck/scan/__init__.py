"""``dns-scan``: the Satellite technique, asking many remote resolvers about many domains.

``await scan(domains, resolvers, settings)`` returns the scan document (``ScanDocument``);
``scan_sync`` is the same for callers without an event loop. See ``scanner`` for the phases,
``verdict`` for the rules and the README's dns-scan section for the methodology.

May import: the root contracts and, from ``measure``, the DNS probe and transports, failure codes,
bogons and text-file parsing it shares with a run. Never imports ``results``, ``unattended``,
``lab`` or ``cli``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from censorcheck.scan.models import ScanDocument, ScanSettings
from censorcheck.scan.resolvers import ResolverSpec, load_resolvers, parse_resolvers

if TYPE_CHECKING:
    from censorcheck.scan.scanner import OnProgress, scan, scan_sync

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


def __getattr__(name: str) -> Any:
    # The scanner brings the probes and their libraries; loaded on first use, so that the CLI
    # and anything reading a scan document's models start without them.
    if name in ("OnProgress", "scan", "scan_sync"):
        from censorcheck.scan import scanner

        return getattr(scanner, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
