"""Which settings each vantage of a run measures with: the user's flags, then each configured
vantage's way out and resolvers, checked as the library will use them."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from censorcheck.errors import ConfigError
from censorcheck.measure import vantages
from censorcheck.results.store import VantagePlan
from censorcheck.settings import Settings


def runnable(settings: Settings, vantage: str | None = None) -> Settings:
    """The settings once the library has checked that a run can use them."""
    from censorcheck.measure.api import runnable as checked

    return checked(settings, vantage)


def vantage_plans(
    base: Settings,
    names: list[str],
    control: str | None,
    extra: Sequence[Path],
    control_flag: str = "--control-vantage ",
) -> tuple[list[VantagePlan], Settings | None]:
    """Each named vantage's settings (``base`` with its way out and resolvers), and the control
    vantage's, if any."""
    configured = vantages.load(extra) if names or control or extra else {}

    def known(name: str, flag: str) -> vantages.Vantage:
        if name not in configured:
            have = ", ".join(sorted(configured)) or "none configured"
            raise ConfigError(f"{flag}{name}: no such vantage (known: {have})")
        return configured[name]

    if len(set(names)) != len(names):
        raise ConfigError("--vantage: each vantage once")
    if len(names) == 1 and names[0] not in configured:
        # The old meaning: a label for this machine's own view.
        plans = [VantagePlan(settings=base.model_copy(update={"vantage": names[0]}))]
    else:
        plans = [VantagePlan(settings=runnable((v := known(n, "--vantage ")).apply(base), n),
                             about=v) for n in names]  # fmt: skip
    control_settings = None
    if control is not None:
        if control in names:
            raise ConfigError(f"{control_flag}{control}: it cannot also be a --vantage")
        control_settings = runnable(known(control, control_flag).apply(base), control)
    return plans, control_settings
