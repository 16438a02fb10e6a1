"""The Optimizer base: groups, state, zero_grad, step(closure), state_dict and its errors."""
import pickle

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.nn.parameter import Parameter

torch = pytest.importorskip("torch")

ALL = [optim.SGD, optim.Adagrad, optim.RMSprop, optim.Adadelta, optim.Adam, optim.AdamW]

# a configuration per optimizer that creates every kind of state it has
RICH = {
    optim.SGD: dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    optim.Adagrad: dict(lr=0.1, lr_decay=0.01),
    optim.RMSprop: dict(lr=0.01, momentum=0.9, centered=True),
    optim.Adadelta: dict(lr=1.0, weight_decay=0.01),
    optim.Adam: dict(lr=0.01, amsgrad=True),
    optim.AdamW: dict(lr=0.01, amsgrad=True, weight_decay=0.1),
}


def _params(*shapes, dtype=np.float32):
    return [Parameter(np.ones(s, dtype)) for s in shapes]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_defaults_match_torch(cls):
    ours = cls(_params(3)).param_groups[0]
    theirs = getattr(torch.optim, cls.__name__)([torch.nn.Parameter(torch.ones(3))]).param_groups[0]
    for key, value in ours.items():
        if key != "params":
            assert key in theirs, key
            assert value == theirs[key], key


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_state_dict_round_trip(cls, run_cr):
    """10 steps, save, a new optimizer loads it, 10 more steps == 20 uninterrupted steps."""
    kwargs = RICH[cls]
    ref, _ = run_cr(cls, kwargs, 20)
    params, opt = run_cr(cls, kwargs, 10)
    sd = pickle.loads(pickle.dumps(opt.state_dict()))   # plain Python/NumPy: picklable
    params2 = [Parameter(p.data.copy()) for p in params]
    opt2 = cls(params2, **kwargs)
    opt2.load_state_dict(sd)
    run_cr(cls, kwargs, 10, params=params2, opt=opt2, start=10)
    for p, r in zip(params2, ref):
        np.testing.assert_array_equal(p.data, r.data)


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_state_dict_layout_matches_torch(cls, run_cr):
    kwargs = RICH[cls]
    params, opt = run_cr(cls, kwargs, 5)
    tps = [torch.nn.Parameter(torch.from_numpy(p.data.copy())) for p in params]
    topt = getattr(torch.optim, cls.__name__)(tps, **kwargs)
    for tp in tps:
        tp.grad = torch.ones_like(tp)
    topt.step()
    sd, tsd = opt.state_dict(), topt.state_dict()
    assert sorted(sd["state"]) == sorted(tsd["state"]) == [0, 1, 2, 3]
    for i in sd["state"]:
        assert set(sd["state"][i]) == set(tsd["state"][i])
        for k, v in sd["state"][i].items():
            assert isinstance(v, int) if k == "step" else isinstance(v, np.ndarray)
    assert [g["params"] for g in sd["param_groups"]] == [g["params"] for g in tsd["param_groups"]]
    # copies: stepping on does not change a saved state dict
    before = {k: v.copy() for k, v in sd["state"][2].items() if isinstance(v, np.ndarray)}
    run_cr(cls, kwargs, 2, params=params, opt=opt, start=5)
    for k, v in before.items():
        np.testing.assert_array_equal(sd["state"][2][k], v)


def test_state_dict_indexes_params_across_groups():
    a, b, c = _params(2, 3, 4)
    opt = optim.SGD([{"params": [a, b]}, {"params": [c], "lr": 0.5}], lr=0.1, momentum=0.9)
    for p in (a, c):
        p.grad = cr.ones(p.shape)
    opt.step()
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sorted(sd["state"]) == [0, 2]              # b had no gradient: no state
    assert sd["param_groups"][1]["lr"] == 0.5 and sd["param_groups"][0]["momentum"] == 0.9


def test_load_state_dict_restores_hyperparameters_and_casts():
    a = Parameter(np.ones(3, np.float32))
    opt = optim.SGD([a], lr=0.1, momentum=0.9)
    a.grad = cr.ones(3)
    opt.step()
    sd = opt.state_dict()
    sd["state"][0]["momentum_buffer"] = sd["state"][0]["momentum_buffer"].astype(np.float64)
    b = Parameter(np.ones(3, np.float32))
    opt2 = optim.SGD([b], lr=0.7)
    opt2.load_state_dict(sd)
    assert opt2.param_groups[0]["lr"] == 0.1 and opt2.param_groups[0]["params"][0] is b
    assert opt2.state[b]["momentum_buffer"].dtype == np.float32
    sd["state"][0]["momentum_buffer"][:] = 5       # the loaded state is a copy
    assert opt2.state[b]["momentum_buffer"][0] == 1


def test_load_state_dict_errors_name_the_mismatch():
    a, b, c = _params(2, 3, 4)
    sd = optim.SGD([{"params": [a]}, {"params": [b, c]}], momentum=0.9).state_dict()
    with pytest.raises(ValueError, match="state dict has 2 parameter groups, the optimizer has 1"):
        optim.SGD(_params(2, 3, 4)).load_state_dict(sd)
    x, y, z = _params(2, 3, 4)
    with pytest.raises(ValueError, match="parameter group 1 has 2 parameters in the state dict "
                                         "but 1 in the optimizer"):
        optim.SGD([{"params": [x]}, {"params": [y]}]).load_state_dict(sd)
    # shape mismatch of a state array
    p = Parameter(np.ones(3, np.float32))
    opt = optim.Adam([p])
    p.grad = cr.ones(3)
    opt.step()
    with pytest.raises(ValueError, match=r"state 'exp_avg' of parameter 0 has shape \(3,\), "
                                         r"the parameter has shape \(4,\)"):
        optim.Adam(_params(4)).load_state_dict(opt.state_dict())
    # another optimizer's state
    with pytest.raises(ValueError, match=r"lacks \['betas'"):
        optim.Adam(_params(3)).load_state_dict(optim.SGD(_params(3)).state_dict())
    with pytest.raises(ValueError, match="expected a dict with 'state' and 'param_groups'"):
        optim.Adam(_params(3)).load_state_dict({"lr": 0.1})


def test_param_groups_hold_every_hyperparameter():
    a, b = _params(2, 3)
    opt = optim.Adam([{"params": [a]}, {"params": b, "lr": 0.1, "betas": (0.5, 0.6)}], eps=1e-6)
    g0, g1 = opt.param_groups
    assert g0["params"] == [a] and g1["params"][0] is b
    assert g0["lr"] == 1e-3 and g1["lr"] == 0.1
    assert g0["betas"] == (0.9, 0.999) and g1["betas"] == (0.5, 0.6)
    assert g0["eps"] == g1["eps"] == 1e-6
    assert set(g0) == set(g1) == {"params", "lr", "betas", "eps", "weight_decay", "amsgrad",
                                  "maximize", "decoupled_weight_decay"}


def test_add_param_group_and_its_checks():
    a, b, c = _params(2, 2, 2)
    opt = optim.SGD([a], lr=0.1)
    opt.add_param_group({"params": [b], "lr": 0.5})
    assert opt.param_groups[1]["lr"] == 0.5 and opt.param_groups[1]["momentum"] == 0
    for p in (a, b):
        p.grad = cr.ones(2)
    opt.step()
    np.testing.assert_allclose(a.data, 0.9)
    np.testing.assert_allclose(b.data, 0.5)
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [c, a]})
    with pytest.raises(TypeError, match="expected a dict"):
        opt.add_param_group([c])
    with pytest.raises(ValueError, match="Invalid momentum value: -1"):
        opt.add_param_group({"params": [c], "momentum": -1})


@pytest.mark.parametrize("params, err, msg", [
    (lambda: Parameter(np.ones(2, np.float32)), TypeError, "got a single Parameter"),
    (lambda: [], ValueError, "empty parameter list"),
    (lambda: [np.ones(2)], TypeError, "can only optimize Tensors.*ndarray"),
    (lambda: {Parameter(np.ones(2, np.float32))}, TypeError, "not a set"),
    (lambda: [(cr.ones(2, requires_grad=True) * 2)], ValueError, "non-leaf"),
    (lambda: [cr.tensor([1, 2])], TypeError, "floating-point"),
])
def test_bad_params(params, err, msg):
    with pytest.raises(err, match=msg):
        optim.SGD(params())


def test_duplicate_parameter_in_a_group():
    a = Parameter(np.ones(2, np.float32))
    with pytest.raises(ValueError, match="appears twice in param group 0"):
        optim.SGD([a, a])


def test_named_parameters():
    a, b = _params(2, 3)
    opt = optim.SGD([("w", a), ("b", b)], lr=0.1)
    assert opt.param_groups[0]["params"] == [a, b]
    assert opt.param_groups[0]["param_names"] == ["w", "b"]
    assert opt.state_dict()["param_groups"][0]["param_names"] == ["w", "b"]


def test_zero_grad():
    a, b = _params(2, 3)
    opt = optim.SGD([a, b])
    a.grad = cr.ones(2)
    opt.zero_grad()
    assert a.grad is None and b.grad is None
    a.grad = cr.ones(2)
    g = a.grad
    opt.zero_grad(set_to_none=False)
    assert a.grad is g
    np.testing.assert_array_equal(a.grad.data, 0)


def test_step_with_closure():
    p = Parameter(np.array([1.0, -2.0], np.float32))
    opt = optim.SGD([p], lr=0.25)
    calls = []

    def closure():
        opt.zero_grad()
        loss = (p * p).sum()             # d loss / d p = 2 p
        loss.backward()
        calls.append(cr.is_grad_enabled())
        return loss

    with cr.no_grad():                   # the closure records the graph anyway
        loss = opt.step(closure)
    assert calls == [True]
    assert float(loss.item()) == pytest.approx(5.0)
    np.testing.assert_allclose(p.data, [0.5, -1.0])
    assert opt.step() is None


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_parameter_without_grad_is_skipped(cls):
    a, b = _params(2, 3)
    opt = cls([a, b], **RICH[cls])
    a.grad = cr.ones(2)
    opt.step()
    np.testing.assert_array_equal(b.data, 1.0)
    assert not opt.state.get(b) or cls is optim.Adagrad   # Adagrad's state exists from the start
    if cls is optim.Adagrad:
        assert opt.state[b]["step"] == 0
    assert not np.array_equal(a.data, np.ones(2))


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_dtype_is_kept(cls, dtype):
    p = Parameter(np.ones((3, 2), dtype))
    opt = cls([p], **RICH[cls])
    for _ in range(2):
        p.grad = cr.tensor(np.full((3, 2), 0.5, dtype))
        opt.step()
    assert p.data.dtype == dtype
    for k, v in opt.state[p].items():
        assert k == "step" or v.dtype == dtype, k


def test_updates_are_in_place():
    p = Parameter(np.ones(4, np.float32))
    data = p.data
    opt = optim.Adam([p], lr=0.1)
    p.grad = cr.ones(4)
    g = p.grad.data.copy()
    opt.step()
    assert p.data is data
    np.testing.assert_array_equal(p.grad.data, g)   # the gradient is not modified


def test_grad_shape_mismatch():
    p = Parameter(np.ones(4, np.float32))
    p.grad = cr.ones(3)
    with pytest.raises(RuntimeError, match=r"gradient has shape \(3,\) but the parameter has "
                                           r"shape \(4,\)"):
        optim.SGD([p]).step()


def test_changing_lr_between_steps_matches_torch():
    a = Parameter(np.ones(3, np.float32))
    t = torch.nn.Parameter(torch.ones(3))
    opt, topt = optim.SGD([a], lr=0.1, momentum=0.9), torch.optim.SGD([t], lr=0.1, momentum=0.9)
    for step in range(6):
        for o in (opt, topt):
            o.param_groups[0]["lr"] = 0.1 / (step + 1)
        g = np.linspace(-1, 1, 3, dtype=np.float32) * (step - 2)
        a.grad, t.grad = cr.tensor(g), torch.from_numpy(g.copy())
        opt.step()
        topt.step()
        np.testing.assert_allclose(a.data, t.detach().numpy(), rtol=1e-6)


def test_repr_lists_groups():
    r = repr(optim.SGD(_params(2), lr=0.5, momentum=0.9))
    assert r.startswith("SGD (") and "Parameter Group 0" in r and "lr: 0.5" in r
    assert "momentum: 0.9" in r
