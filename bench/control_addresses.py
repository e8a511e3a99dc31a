"""What measuring the control's addresses from the vantage costs: the same lab targets whose DNS
differs from the control's, measured with ``control_addresses`` 0 (off) and 2 (the default), in
alternating rounds, and each target's time compared with itself.

Figures: the added wall time per target (median and p90 of on minus off), and the network floor:
what the extra connections, handshakes and fetch took on the wire, which is what they would add
if they ran after the probe's own work instead of beside it.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Sequence

from figures import Figures
from lab_process import LabInfo, lab_process
from workload import Entries, check_verdicts, lab_entries

from censorcheck.lab import Topology
from censorcheck.measure.api import measure
from censorcheck.measure.targets import load_targets
from censorcheck.models import AtControlAddresses, Run
from censorcheck.settings import Settings

# Lab rows whose censored resolver denies the name or answers another address than the control's.
DIFFERING = (
    "dns-nxdomain", "dns-refused", "dns-servfail", "dns-zero", "dns-blockpage",
    "dns-blockpage-http", "dns-notice-http", "dns-inject", "cdn",
)  # fmt: skip
ROUNDS = 2  # of each setting, alternating, so that a warming lab favours neither


def entries(per_row: int) -> Entries:
    return [(f"x{i:03d}-{row}.ctl.test", row) for row in DIFFERING for i in range(per_row)]


def _settings(lab: LabInfo, timeout: float, concurrency: int, extra: int) -> Settings:
    values = lab.settings.model_dump()
    values.update(timeout=timeout, concurrency=concurrency, control_addresses=extra)
    return Settings.model_validate(values)


def wire_time(x: AtControlAddresses) -> float:
    """The extra work's own time: the slowest address's connect and handshake (addresses are
    dialled together), then the fetch over the first that worked."""
    tls = {h.address: h.t for h in x.tls}
    dial = max((c.t + tls.get(c.address, 0.0) for c in x.tcp), default=0.0)
    return dial + sum(hop.t for hop in (x.http.hops if x.http else ()))


def quantile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))] if ordered else 0.0


def _level(lab: LabInfo, topo: Topology, per_row: int, timeout: float, concurrency: int) -> Figures:
    """Both settings, ``ROUNDS`` runs each at ``concurrency``; per-target medians compared."""
    targets = load_targets(topo.target_urls())
    times: dict[int, dict[str, list[float]]] = {0: {}, 2: {}}
    walls: dict[int, list[float]] = {0: [], 2: []}
    last_on: Run | None = None
    for _ in range(ROUNDS):
        for extra in (0, 2):
            start = time.monotonic()
            run = measure(targets, _settings(lab, timeout, concurrency, extra))
            walls[extra].append(time.monotonic() - start)
            for r in run.results:
                times[extra].setdefault(r.target.domain, []).append(r.t)
            if extra:
                last_on = run
    assert last_on is not None
    added = {
        name: statistics.median(times[2][name]) - statistics.median(times[0][name])
        for name in times[0]
    }
    # A probe whose own answers gave it nothing to dial has nothing to run the extra work beside.
    after = {r.target.domain for r in last_on.results if not any(not c.skipped for c in r.tcp)}
    wire = [wire_time(r.control_addresses) for r in last_on.results if r.control_addresses]
    figures: Figures = {
        "concurrency": concurrency,
        "measured_there": len(wire),
        "target_off_median_s": statistics.median(statistics.median(t) for t in times[0].values()),
        "added_median_s": statistics.median(added.values()),
        "added_p90_s": quantile(list(added.values()), 0.9),
        "floor_median_s": statistics.median(wire) if wire else 0.0,
        "floor_p90_s": quantile(wire, 0.9),
        "wall_off_s": statistics.median(walls[0]),
        "wall_on_s": statistics.median(walls[2]),
        **check_verdicts(last_on, topo.names),
    }
    for part, names in (("after", after), ("beside", set(added) - after)):
        values = [added[n] for n in names]
        figures[f"{part}_targets"] = len(values)
        figures[f"{part}_added_median_s"] = statistics.median(values) if values else 0.0
    return figures


def control_address_figures(per_row: int, timeout: float, concurrencies: Sequence[int]) -> Figures:
    """Each concurrency in turn on one lab: alone (1), the added time is the wait itself; at the
    main run's concurrency, two cores are busy and it is the CPU the extra work costs too."""
    chosen = entries(per_row)
    with lab_process(chosen) as lab:
        topo = Topology(lab.network, entries=lab_entries(chosen))
        levels = [_level(lab, topo, per_row, timeout, c) for c in concurrencies]
    return {
        "targets": len(chosen),
        "rows": list(DIFFERING),
        "rounds": ROUNDS,
        "timeout_s": timeout,
        "levels": levels,
        "accuracy": min(level["accuracy"] for level in levels),
    }


def _ms(seconds: float) -> str:
    return f"{seconds * 1e3:6.1f} ms"


def render(c: Figures) -> list[str]:
    """The report's lines for these figures."""
    lines = [
        "",
        f"control's addresses ({c['targets']} lab targets whose DNS differs from the control's,"
        f" {len(c['rows'])} rows; off (0) and on (2),",
        f"  {c['rounds']} rounds each, timeout {c['timeout_s']:g} s; added = a target's median"
        " time on minus off)",
    ]
    for lv in c["levels"]:
        lines += [
            f"  concurrency {lv['concurrency']}: measured there for {lv['measured_there']} of"
            f" {c['targets']} targets; a target takes {_ms(lv['target_off_median_s']).strip()} off",
            f"    added per target   median {_ms(lv['added_median_s'])}, p90"
            f" {_ms(lv['added_p90_s'])}",
            f"      beside the probe's own connections ({lv['beside_targets']}): median"
            f" {_ms(lv['beside_added_median_s'])}",
            f"      after a DNS answer with nothing to dial ({lv['after_targets']}): median"
            f" {_ms(lv['after_added_median_s'])}",
            f"    network floor      median {_ms(lv['floor_median_s'])}, p90"
            f" {_ms(lv['floor_p90_s'])}   (the extra connect, handshake and fetch themselves)",
            f"    run wall time      {lv['wall_off_s']:.2f} s off, {lv['wall_on_s']:.2f} s on",
            f"    accuracy (on)      {lv['accuracy']:7.1%}   ({lv['correct']}/{c['targets']})",
            *(f"      wrong: {m}" for m in lv["mismatches"]),
        ]
    return lines
