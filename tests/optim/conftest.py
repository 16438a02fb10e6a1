"""Shared harness for the optimizer tests: run chainrule and torch on the same gradients.

``run_pair`` builds the same parameters in both libraries, feeds both the same precomputed random
gradients for a number of steps (parameter 1 gets no gradient at some steps, so skipping is
tested too), and checks the parameters after every step and the optimizer state at the end.
"""
import numpy as np
import pytest

import chainrule as cr
from chainrule.nn.parameter import Parameter

SHAPES = [(1,), (7,), (4, 3), (2, 3, 5)]


def make_problem(seed=0, shapes=SHAPES, steps=50, dtype=np.float32):
    rng = np.random.default_rng(seed)
    init = [rng.standard_normal(s).astype(dtype) for s in shapes]
    grads = [[rng.standard_normal(s).astype(dtype) for s in shapes] for _ in range(steps)]
    for t in range(3, steps, 7):
        grads[t][1] = None  # parameter 1 has no gradient at these steps: both must skip it
    return init, grads


def _groups(params, groups):
    if groups is None:
        return params
    return [dict(opts, params=[params[i] for i in idx]) for idx, opts in groups]


def run_pair(cr_cls, torch_cls, kwargs=None, groups=None, steps=50, seed=0, dtype=np.float32,
             rtol=1e-5, atol=1e-6, check_state=True):
    """Step both optimizers ``steps`` times on the same gradients; compare after every step.

    groups: None (one group), or a list of (parameter indices, options) pairs.
    Returns the chainrule parameters and optimizer.
    """
    import torch

    kwargs = kwargs or {}
    init, grads = make_problem(seed, steps=steps, dtype=dtype)
    cps = [Parameter(a.copy()) for a in init]
    tps = [torch.nn.Parameter(torch.from_numpy(a.copy())) for a in init]
    copt = cr_cls(_groups(cps, groups), **kwargs)
    topt = torch_cls(_groups(tps, groups), **kwargs)
    for t in range(steps):
        for cp, tp, g in zip(cps, tps, grads[t]):
            cp.grad = None if g is None else cr.tensor(g.copy())
            tp.grad = None if g is None else torch.from_numpy(g.copy())
        copt.step()
        topt.step()
        for i, (cp, tp) in enumerate(zip(cps, tps)):
            assert cp.data.dtype == dtype
            np.testing.assert_allclose(cp.data, tp.detach().numpy(), rtol=rtol, atol=atol,
                                       err_msg=f"parameter {i} after step {t + 1}")
    if check_state:
        for i, (cp, tp) in enumerate(zip(cps, tps)):
            cs, ts = copt.state.get(cp, {}), topt.state.get(tp, {})
            assert set(cs) == set(ts), f"state keys of parameter {i}"
            for k, v in cs.items():
                if k == "step":
                    assert v == float(ts[k]), f"step of parameter {i}"
                else:
                    assert v.dtype == dtype
                    np.testing.assert_allclose(v, ts[k].numpy(), rtol=rtol * 10, atol=atol,
                                               err_msg=f"state {k!r} of parameter {i}")
    return cps, copt


def run_chainrule(cls, kwargs, steps, seed=0, params=None, opt=None, start=0):
    """Step a chainrule optimizer on the harness's gradients from step ``start``."""
    init, grads = make_problem(seed, steps=start + steps)
    if params is None:
        params = [Parameter(a.copy()) for a in init]
    if opt is None:
        opt = cls(params, **kwargs)
    for t in range(start, start + steps):
        for p, g in zip(params, grads[t]):
            p.grad = None if g is None else cr.tensor(g.copy())
        opt.step()
    return params, opt


@pytest.fixture
def pair():
    return run_pair


@pytest.fixture
def run_cr():
    return run_chainrule
