"""Measuring: from a target list to a run document with a verdict per target.

Owns the target list and its parsing (``targets``, ``textfile``), the probes of each network layer
(``probes/``), the verdict rules (``verdict/``), the run of one vantage (``pipeline``) and of many
(``api``), the choice and pre-flight of a run's control (``controls``), the journal that lets an
interrupted run resume (``durable``), and what the probes and rules need on the side: failure
codes (``failures``), special-purpose addresses (``bogons``), blockpage fingerprints
(``fingerprints``), vantage definitions (``vantages``) and redaction of the user's identity
(``privacy``).

May import: the root contracts (``models``, ``settings``, ``errors``), ``control.protocol`` and
``control.client`` to ask a control server, and ``results.store`` to write the run it measured.
Never imports ``cli`` (no typer or rich), ``lab`` or ``unattended``. ``verdict/`` is stricter: it is
pure, importing neither sockets, HTTP clients nor files, so that every rule can be table-tested.
"""
