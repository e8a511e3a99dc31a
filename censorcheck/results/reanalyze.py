"""Re-judging a stored run with today's rules: verdicts are a pure function of the observations.

No network and no clock: the observations, the run's resolver health and the networks it counted
as public are all in the run document. Blockpage fingerprints are not matched again: which
fingerprint a response matched is itself a recorded observation.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic import ValidationError

from censorcheck.errors import ConfigError, first_error
from censorcheck.measure.bogons import networks
from censorcheck.measure.verdict import (
    RULES_VERSION,
    JudgeContext,
    Observations,
    safe_judge,
    safe_judge_quic,
)
from censorcheck.measure.verdict.baseline import settle
from censorcheck.models import SCHEMA_VERSION, Result, Run, Summary, Verdict
from censorcheck.settings import Settings


def judge_context(run: Run) -> JudgeContext:
    """The run-wide facts the rules see, rebuilt from the document: the networks it was told to
    treat as public, and which of its resolvers were dead. (Before rules 4 a loopback vantage
    also widened the public networks; a lab document from then that did not name its network
    re-judges its lab addresses as non-routable.)"""
    public = run.settings.get("treat_as_public") or []
    if not isinstance(public, list):
        raise ConfigError(f"settings.treat_as_public: expected a list, got {public!r}")
    try:
        settings = Settings(treat_as_public=[str(net) for net in public])
    except ValidationError as exc:
        raise ConfigError(f"settings.treat_as_public: {first_error(exc)}") from None
    return JudgeContext.of(networks(settings.treat_as_public), run.vantage.resolvers)


@dataclass(frozen=True)
class Reanalysis:
    """A run re-judged: the new document, and the results whose verdict changed (old, new)."""

    run: Run
    changed: list[tuple[Result, Result]]


def changed(old: Result, new: Result) -> bool:
    """A verdict changed when its status, blocking layer, outcome or confidence did, or its
    QUIC verdict's did (a reworded reason or reordered evidence is not a change)."""

    def key(v: Verdict | None) -> tuple[object, ...] | None:
        return None if v is None else (v.status, v.blocking, v.outcome, v.confidence)

    return key(old.verdict) != key(new.verdict) or key(old.quic_verdict) != key(new.quic_verdict)


def _rejudged(result: Result, ctx: JudgeContext) -> Result:
    obs = Observations.of(result)
    return result.model_copy(
        update={"verdict": safe_judge(obs, ctx), "quic_verdict": safe_judge_quic(obs)}
    )


def reanalyze(run: Run) -> Reanalysis:
    """``run`` with every verdict recomputed by the current rules, and its summary with them."""
    ctx = judge_context(run)
    # Run-level baseline (issue 14): the rejudged results settled against the whole run's.
    results, baselines = settle(_rejudged(r, ctx) for r in run.results)
    new = run.model_copy(
        update={
            "schema_version": SCHEMA_VERSION,
            "rules_version": RULES_VERSION,
            "results": results,
            "summary": Summary.of(results),
            "baselines": baselines,
        }
    )
    return Reanalysis(
        new, [(a, b) for a, b in zip(run.results, results, strict=True) if changed(a, b)]
    )
