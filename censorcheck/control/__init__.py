"""The control server (an uncensored second opinion) and the probe's client for it.

``client`` needs only the probe's own dependencies; ``server`` needs the ``control`` extra
(FastAPI and uvicorn), so import it only when serving.
"""
