"""The control server (an uncensored second opinion) and the probe's client for it.

``client`` needs only the probe's own dependencies; ``server`` needs the ``control`` extra
(FastAPI and uvicorn), so import it only when serving.

May import: the root contracts and, from ``measure``, the pipeline and probes the server measures
with (the same code as the probe's, so the two views differ only in where they stand). Never
imports ``results``, ``unattended``, ``lab`` or ``cli``.
"""
