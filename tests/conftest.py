"""Shared test set-up: every test starts from the same global state of the engine.

Each test gets the seed 0, grad mode on, anomaly detection off and float32 as the default dtype, and
whatever it changes is put back afterwards, so tests never depend on their order.
"""
import pytest

import chainrule as cr
from chainrule.autograd import anomaly, grad_mode


@pytest.fixture(autouse=True)
def _fresh_engine_state():
    cr.manual_seed(0)
    grad_before = grad_mode._State.enabled
    anomaly_before = anomaly._enabled
    dtype_before = cr.get_default_dtype()
    grad_mode._State.enabled = True
    anomaly._enabled = False
    cr.set_default_dtype(cr.float32)
    yield
    grad_mode._State.enabled = grad_before
    anomaly._enabled = anomaly_before
    cr.set_default_dtype(dtype_before)


@pytest.fixture
def seam_device():
    """The "seam" test device (tests/backends/seam.py): a CPU backend that obeys CuPy's rules,
    registered for one test."""
    from tests.backends import seam

    seam.register()
    yield "seam"
    seam.unregister()
