"""Parity with OONI's QA suite for Web Connectivity: one entry per scenario of probe-cli's
``internal/webconnectivityqa`` (``table.py``), the lab row or verdict-table row that encodes it
here, and the Markdown page made from it (``render.py``, docs/ooni-parity.md). Only tests and that
page read it, so it lives with the tests."""
