"""Results: what becomes of run documents once written.

Owns the results folder (``store``), the DuckDB index over every run in it (``warehouse``,
``rowreader``), and what analysts read from it: differences between runs (``diff``), a target's
history (``history``), reports in HTML and Markdown (``report``), OONI-shaped exports (``ooni``,
``export``), and re-judging stored observations under the current rules (``reanalyze``).

May import: the root contracts (``models``, ``settings``, ``errors``) and, from ``measure``, the
pure parts a stored document needs: ``verdict`` (to re-judge), ``bogons``, ``vantages``. Never
imports the probes, the pipeline, the API that runs them, the journal, ``control``, ``scan``,
``lab`` or ``cli``: reading results must never send a packet.
"""
