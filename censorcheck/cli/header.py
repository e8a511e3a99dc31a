"""The run header: one line on stderr, before the first target, naming the control in use and
what it learns about the user."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from censorcheck.cli.common import log
from censorcheck.settings import Settings

if TYPE_CHECKING:
    from censorcheck.measure.controls import ControlPlan


def announcer() -> Callable[[Settings, ControlPlan], None]:
    """Says once, before the first target, which control the run measures with."""
    said: set[str] = set()

    def announce(settings: Settings, plan: ControlPlan) -> None:
        for line in control_lines(settings, plan):
            if line not in said:
                said.add(line)
                log(line)

    return announce


def control_lines(settings: Settings, plan: ControlPlan) -> list[str]:
    """The run header's line on the control in use, after a warning when the chosen one failed."""
    lines = []
    status = plan.server_status
    if status is not None and not status.alive:
        what = f"control server {status.url}"
        if status.protocol == "ooni":
            what = f"OONI test helpers {_hosts(settings.ooni_helpers)}"
        if plan.answered:
            lines.append(f"warning: {what} did not answer ({status.failure}); the control "
                         "resolvers stand in, for DNS only")  # fmt: skip
    if plan.silent_vantage is not None:
        lines.append(f"warning: control vantage {plan.silent_vantage}: none of its resolvers "
                     "answered; the control resolvers stand in, for DNS only")  # fmt: skip
    if not plan.answered:
        lines.append("warning: no control answered (--no-control-ok): no verdict can claim "
                     "blocking where it needed one")  # fmt: skip
        lines.append("control: none (nothing answered the pre-flight)")
        return lines
    seen_from = "the proxy's address" if settings.proxy else "this machine's address"
    if plan.kind == "ooni":
        hosts = _hosts(settings.ooni_helpers)
        whose = (
            "OONI's public test helpers" if settings.uses_public_helpers else "OONI test helpers"
        )
        lines.append(f"control: {whose} ({hosts}); they learn the URLs tested and {seen_from} "
                     "(--control none to keep them out)")  # fmt: skip
    elif plan.kind == "server":
        url = status.url if status is not None else "?"
        lines.append(f"control: censorcheck control server {url}; it learns the URLs tested "
                     f"and {seen_from}")  # fmt: skip
    elif plan.kind == "vantage":
        lines.append(f"control: vantage {plan.vantage}, measuring each target its own way out")
    else:
        lines.append(f"control: control resolvers only ({', '.join(settings.control_resolvers)}): "
                     "they check DNS; TLS and HTTP blocking is claimed only where the probe's own "
                     "evidence shows it (a neutral name or Host that gets through)")  # fmt: skip
    return lines


def _hosts(urls: list[str]) -> str:
    return ", ".join(urlsplit(u).hostname or u for u in urls)
