"""Small helpers shared by the tests of the notes' formulas (tests/notes/)."""
import numpy as np

import chainrule as cr

TOL = dict(rtol=1e-9, atol=1e-11)


def t(a, grad=False):
    """A float64 chainrule tensor from an array-like."""
    return cr.tensor(np.asarray(a, dtype=np.float64), requires_grad=grad)


def close(got, want, err_msg="", **tol):
    """assert_allclose with the float64 tolerance (got may be a Tensor)."""
    got = got.numpy() if hasattr(got, "numpy") else got
    want = want.numpy() if hasattr(want, "numpy") else want
    np.testing.assert_allclose(got, want, err_msg=err_msg, **(tol or TOL))


def sigmoid(a):
    return 1.0 / (1.0 + np.exp(-a))
