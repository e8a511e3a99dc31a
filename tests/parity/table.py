"""The parity table: every scenario of OONI's QA suite in probe-cli's AllTestCases order, what
OONI expects, and ours. tests/test_ooni_parity.py checks every claim against the row it names."""

from __future__ import annotations

from tests.parity.cases_a_to_l import A_TO_L
from tests.parity.cases_r_to_w import R_TO_W
from tests.parity.model import Parity

# The probe-cli commit whose internal/webconnectivityqa/testcase.go (AllTestCases) was read.
OONI_COMMIT = "7cb22410c98db6dbc801887d93b65c8a5318ad07"
OONI_COUNT = 50

TABLE: tuple[Parity, ...] = A_TO_L + R_TO_W
