"""Learning-rate schedulers against torch.optim.lr_scheduler over 60 steps; InverseTimeLR against
its closed form; state_dict round trips; errors."""
import math
import pickle
import warnings

import numpy as np
import pytest

import chainrule as cr
from chainrule import optim
from chainrule.nn.parameter import Parameter
from chainrule.optim import lr_scheduler as sch

torch = pytest.importorskip("torch")
tsch = torch.optim.lr_scheduler

LRS = (0.1, 0.03)


def _optimizers(lrs=LRS, cls="SGD", **kwargs):
    ours = getattr(optim, cls)([{"params": [Parameter(np.ones(2, np.float32))], "lr": lr}
                               for lr in lrs], **kwargs)
    theirs = getattr(torch.optim, cls)([{"params": [torch.nn.Parameter(torch.ones(2))], "lr": lr}
                                        for lr in lrs], **kwargs)
    return ours, theirs


def _compare(ours, theirs, opts, steps=60, metrics=None):
    assert ours.get_last_lr() == pytest.approx(theirs.get_last_lr(), rel=1e-7)
    for t in range(steps):
        for o in opts:
            o.step()
        if metrics is None:
            ours.step()
            theirs.step()
        else:
            ours.step(metrics[t])
            theirs.step(metrics[t])
        lo, lt = ours.get_last_lr(), theirs.get_last_lr()
        assert lo == pytest.approx(lt, rel=1e-7, abs=1e-15), f"step {t + 1}: {lo} vs {lt}"
        assert [g["lr"] for g in opts[0].param_groups] == pytest.approx(
            [g["lr"] for g in opts[1].param_groups], rel=1e-7, abs=1e-15)
    assert ours.last_epoch == theirs.last_epoch


class Warmup:
    """A callable object (its attributes go into LambdaLR's state_dict)."""

    def __init__(self, n):
        self.n = n

    def __call__(self, t):
        return min(1.0, (t + 1) / self.n) * 0.97 ** t


SCHEDULERS = {
    "StepLR": lambda m, o: m.StepLR(o, step_size=7, gamma=0.5),
    "StepLR-default-gamma": lambda m, o: m.StepLR(o, 10),
    "MultiStepLR": lambda m, o: m.MultiStepLR(o, milestones=[5, 20, 20, 41], gamma=0.3),
    "ExponentialLR": lambda m, o: m.ExponentialLR(o, gamma=0.93),
    "CosineAnnealingLR": lambda m, o: m.CosineAnnealingLR(o, T_max=20),
    "CosineAnnealingLR-eta_min": lambda m, o: m.CosineAnnealingLR(o, T_max=13, eta_min=0.004),
    "CosineAnnealingLR-T1": lambda m, o: m.CosineAnnealingLR(o, T_max=1, eta_min=0.01),
    "LambdaLR": lambda m, o: m.LambdaLR(o, lambda t: 1.0 / (1 + 0.3 * t)),
    "LambdaLR-list": lambda m, o: m.LambdaLR(o, [lambda t: 0.95 ** t, Warmup(8)]),
}


@pytest.mark.parametrize("name", SCHEDULERS)
def test_scheduler_matches_torch(name):
    opts = _optimizers()
    make = SCHEDULERS[name]
    _compare(make(sch, opts[0]), make(tsch, opts[1]), opts)
    for g in opts[0].param_groups:
        assert "initial_lr" in g
    assert [g["initial_lr"] for g in opts[0].param_groups] == list(LRS)


def test_stacked_schedulers_match_torch():
    # the recursive schedulers compose, as in torch
    opts = _optimizers()
    ours = [sch.StepLR(opts[0], 5, 0.5), sch.ExponentialLR(opts[0], 0.97),
            sch.CosineAnnealingLR(opts[0], 17)]
    theirs = [tsch.StepLR(opts[1], 5, 0.5), tsch.ExponentialLR(opts[1], 0.97),
              tsch.CosineAnnealingLR(opts[1], 17)]
    for t in range(60):
        for o in opts:
            o.step()
        for s in ours + theirs:
            s.step()
        assert [g["lr"] for g in opts[0].param_groups] == pytest.approx(
            [g["lr"] for g in opts[1].param_groups], rel=1e-7, abs=1e-15)


def test_cosine_closed_form():
    opt = _optimizers(lrs=(0.2,))[0]
    s = sch.CosineAnnealingLR(opt, T_max=10, eta_min=0.01)
    for t in range(1, 45):
        opt.step()
        s.step()
        expected = 0.01 + (0.2 - 0.01) * (1 + math.cos(math.pi * t / 10)) / 2
        assert s.get_last_lr()[0] == pytest.approx(expected, rel=1e-9, abs=1e-14)


def test_scheduled_training_matches_torch():
    """SGD with momentum under StepLR: the parameters follow torch's."""
    rng = np.random.default_rng(0)
    a = Parameter(rng.standard_normal(5).astype(np.float32))
    t = torch.nn.Parameter(torch.from_numpy(a.data.copy()))
    opt, topt = optim.SGD([a], lr=0.1, momentum=0.9), torch.optim.SGD([t], lr=0.1, momentum=0.9)
    s, ts = sch.StepLR(opt, 4, 0.5), tsch.StepLR(topt, 4, 0.5)
    for _ in range(20):
        g = rng.standard_normal(5).astype(np.float32)
        a.grad, t.grad = cr.tensor(g), torch.from_numpy(g.copy())
        opt.step()
        topt.step()
        s.step()
        ts.step()
    np.testing.assert_allclose(a.data, t.detach().numpy(), rtol=1e-5, atol=1e-6)


PLATEAU = [
    dict(),
    dict(patience=2),
    dict(patience=0, factor=0.5, cooldown=2),
    dict(mode="max", patience=1, factor=0.7),
    dict(mode="min", threshold_mode="abs", threshold=0.05, patience=1),
    dict(mode="max", threshold_mode="abs", threshold=0.02, patience=0, cooldown=1),
    dict(patience=1, factor=0.2, min_lr=[0.01, 0.001]),
    dict(patience=0, factor=0.5, min_lr=0.02, eps=1e-3),
]


@pytest.mark.parametrize("kwargs", PLATEAU, ids=str)
def test_reduce_on_plateau_matches_torch(kwargs):
    rng = np.random.default_rng(1)
    # falling, then plateaus and bumps, then falling again
    metrics = np.concatenate([np.linspace(1.0, 0.5, 10), 0.5 + 0.02 * rng.standard_normal(25),
                              np.linspace(0.5, 0.2, 10), 0.2 + 0.05 * rng.random(15)])
    opts = _optimizers()
    ours = sch.ReduceLROnPlateau(opts[0], **kwargs)
    theirs = tsch.ReduceLROnPlateau(opts[1], **kwargs)
    _compare(ours, theirs, opts, steps=len(metrics), metrics=[float(m) for m in metrics])
    assert ours.best == theirs.best and ours.num_bad_epochs == theirs.num_bad_epochs


def test_reduce_on_plateau_accepts_a_tensor_metric():
    opt = _optimizers()[0]
    s = sch.ReduceLROnPlateau(opt, patience=0)
    s.step(cr.tensor(1.0))
    s.step(cr.tensor(2.0))
    assert s.get_last_lr() == pytest.approx([0.01, 0.003])


def test_inverse_time_closed_form_and_robbins_monro():
    opt = _optimizers()[0]
    s = sch.InverseTimeLR(opt, t0=10)
    lrs = [s.get_last_lr()]
    for _ in range(60):
        opt.step()
        s.step()
        lrs.append(s.get_last_lr())
    for t, lr in enumerate(lrs):
        assert lr == pytest.approx([e0 * 10 / (10 + t) for e0 in LRS], rel=1e-12)
    # eta_t * (t0 + t) is the constant c: a harmonic series (sum = inf), sum of squares finite
    assert lrs[60][0] * 70 == pytest.approx(0.1 * 10)


def test_inverse_time_with_c_and_power():
    opt = _optimizers()[0]
    s = sch.InverseTimeLR(opt, c=[2.0, 1.0], t0=4.0, power=0.75)
    for t in range(1, 30):
        opt.step()
        s.step()
        assert s.get_last_lr() == pytest.approx([2.0 / (4.0 + t) ** 0.75, 1.0 / (4.0 + t) ** 0.75],
                                                rel=1e-12)


def test_inverse_time_equals_torch_lambda():
    opts = _optimizers()
    _compare(sch.InverseTimeLR(opts[0], t0=3.0), tsch.LambdaLR(opts[1], lambda t: 3.0 / (3.0 + t)),
             opts)


ROUND_TRIP = dict(SCHEDULERS, InverseTimeLR=lambda m, o: m.InverseTimeLR(o, t0=5.0))


@pytest.mark.parametrize("name", ROUND_TRIP)
def test_scheduler_state_dict_round_trip(name):
    make = ROUND_TRIP[name]
    ref_opt = _optimizers()[0]
    ref = make(sch, ref_opt)
    opt = _optimizers()[0]
    s = make(sch, opt)
    for _ in range(10):
        for o, sc in ((ref_opt, ref), (opt, s)):
            o.step()
            sc.step()
    saved_opt, saved = opt.state_dict(), pickle.loads(pickle.dumps(s.state_dict()))
    opt2 = _optimizers()[0]
    s2 = make(sch, opt2)            # build, then load the optimizer and the scheduler
    opt2.load_state_dict(saved_opt)
    s2.load_state_dict(saved)
    for _ in range(25):
        for o, sc in ((ref_opt, ref), (opt2, s2)):
            o.step()
            sc.step()
        assert s2.get_last_lr() == ref.get_last_lr()
    assert s2.last_epoch == ref.last_epoch == 35


def test_plateau_state_dict_round_trip():
    metrics = [1.0, 0.9, 0.95, 0.96, 0.97, 0.8, 0.81, 0.82, 0.83, 0.84, 0.85, 0.7, 0.71, 0.72]
    ref_opt, opt, opt2 = (_optimizers()[0] for _ in range(3))
    kw = dict(patience=1, cooldown=1, factor=0.5)
    ref, s = sch.ReduceLROnPlateau(ref_opt, **kw), sch.ReduceLROnPlateau(opt, **kw)
    for m in metrics[:6]:
        ref.step(m)
        s.step(m)
    s2 = sch.ReduceLROnPlateau(opt2, **kw)
    opt2.load_state_dict(opt.state_dict())
    s2.load_state_dict(pickle.loads(pickle.dumps(s.state_dict())))
    for m in metrics[6:]:
        ref.step(m)
        s2.step(m)
        assert s2.get_last_lr() == ref.get_last_lr()


def test_lambda_state_dict_keeps_callable_objects():
    opt = _optimizers()[0]
    w = Warmup(8)
    s = sch.LambdaLR(opt, [lambda t: 1.0, w])
    sd = s.state_dict()
    assert sd["lr_lambdas"] == [None, {"n": 8}]
    w2 = Warmup(1)
    sch.LambdaLR(_optimizers()[0], [lambda t: 1.0, w2]).load_state_dict(sd)
    assert w2.n == 8


def test_warns_when_scheduler_steps_before_optimizer():
    opt = _optimizers()[0]
    s = sch.StepLR(opt, 3)
    with pytest.warns(UserWarning, match="before optimizer.step"):
        s.step()
    opt = _optimizers()[0]
    s = sch.StepLR(opt, 3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        opt.step()
        s.step()


def test_scheduler_errors():
    opt = _optimizers()[0]
    with pytest.raises(TypeError, match="expected an Optimizer, got list"):
        sch.StepLR([], 3)
    with pytest.raises(KeyError, match=r"param_groups\[0\] has no 'initial_lr'"):
        sch.ExponentialLR(opt, 0.9, last_epoch=5)
    with pytest.raises(ValueError, match="expected 2 lr_lambdas"):
        sch.LambdaLR(opt, [lambda t: 1.0])
    with pytest.raises(ValueError, match="step_size to be a positive int"):
        sch.StepLR(opt, 0)
    with pytest.raises(ValueError, match="T_max to be a positive int"):
        sch.CosineAnnealingLR(opt, 0)
    with pytest.raises(ValueError, match="t0 > 0"):
        sch.InverseTimeLR(opt, t0=0)
    with pytest.raises(ValueError, match="expected 2 values of c"):
        sch.InverseTimeLR(opt, c=[1.0])
    with pytest.raises(ValueError, match="factor should be < 1.0"):
        sch.ReduceLROnPlateau(opt, factor=1.0)
    with pytest.raises(ValueError, match="mode should be 'min' or 'max'"):
        sch.ReduceLROnPlateau(opt, mode="lowest")
    with pytest.raises(ValueError, match="threshold_mode should be 'rel' or 'abs'"):
        sch.ReduceLROnPlateau(opt, threshold_mode="relative")
    with pytest.raises(ValueError, match="expected 2 min_lrs"):
        sch.ReduceLROnPlateau(opt, min_lr=[0.1])


def test_group_added_after_the_scheduler():
    opt = _optimizers(lrs=(0.1,))[0]
    s = sch.LambdaLR(opt, lambda t: 0.5 ** t)
    opt.add_param_group({"params": [Parameter(np.ones(2, np.float32))]})
    opt.step()
    with pytest.raises(RuntimeError, match="optimizer has 2 parameter groups but the scheduler "
                                           "knows 1"):
        s.step()
