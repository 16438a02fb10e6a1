"""The notes' formulas are checked in float64, so that agreement is to ~1e-10, not to float32's
~1e-5, and a wrong term cannot hide in the rounding."""
import pytest

import chainrule as cr


@pytest.fixture(autouse=True)
def _float64():
    cr.set_default_dtype(cr.float64)  # tests/conftest.py puts float32 back afterwards
    yield
