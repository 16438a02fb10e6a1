"""What the property tests share: the hypothesis settings profile, input strategies and a
comparison that understands inf and NaN.

Profiles (pick one with the environment variable CHAINRULE_HYPOTHESIS_PROFILE):

- ``chainrule-ci`` (the default): few examples, no deadline, derandomized (the same examples on
  every run, so CI is reproducible), no example database written to disk;
- ``chainrule-deep``: many random examples, for a long local hunt for bugs.
"""
from __future__ import annotations

import os

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis")

from hypothesis import HealthCheck, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_QUIET = [HealthCheck.function_scoped_fixture, HealthCheck.too_slow, HealthCheck.data_too_large,
          HealthCheck.filter_too_much]
settings.register_profile("chainrule-ci", max_examples=6, deadline=None, derandomize=True,
                          database=None, suppress_health_check=_QUIET, print_blob=True)
settings.register_profile("chainrule-deep", max_examples=300, deadline=None, derandomize=False,
                          database=None, suppress_health_check=_QUIET, print_blob=True)
PROFILE = settings.get_profile(os.environ.get("CHAINRULE_HYPOTHESIS_PROFILE", "chainrule-ci"))

DTYPES = st.sampled_from(["float32", "float64"])
SEEDS = st.integers(0, 2 ** 32 - 1)
# powers of ten that scale the op's domain: tiny (float32 subnormal products) to huge (overflow)
WIDE_EXPONENTS = st.sampled_from([-30, -12, -4, -1, 0, 1, 4, 12, 30])
SMALL_EXPONENTS = st.sampled_from([-2, -1, 0, 1, 2])

TOL = {"float64": 1e-9, "float32": 2e-5}


def assert_close(ours, ref, dtype, what, floor=0.0):
    """``ours`` equals ``ref``: the same shape, NaN where ref is NaN, the same infs, and finite
    values within TOL[dtype] times the largest finite |ref| (so that sums that cancel to nearly 0
    are judged against the scale of the array, not their own; subnormals within the smallest
    normal number), or times ``floor`` when that is larger (for values known to carry an
    absolute rounding error, such as 1 - tanh(x)^2, an O(1) difference of nearly equal numbers).
    """
    ours = np.asarray(ours, np.float64)
    ref = np.asarray(ref, np.float64)
    assert ours.shape == ref.shape, f"{what}: shape {ours.shape}, expected {ref.shape}"
    nan = np.isnan(ref)
    np.testing.assert_array_equal(np.isnan(ours), nan, err_msg=f"{what}: NaN positions differ")
    inf = np.isinf(ref)
    np.testing.assert_array_equal(ours[inf], ref[inf], err_msg=f"{what}: infs differ")
    fin = ~(nan | inf)
    if not fin.any():
        return
    scale = max(np.max(np.abs(ref[fin])), floor)
    tol = TOL[dtype]
    tiny = np.finfo(dtype).tiny  # subnormal results may round differently in the last place
    np.testing.assert_allclose(ours[fin], ref[fin], rtol=tol, atol=tol * scale + tiny,
                               err_msg=what)
