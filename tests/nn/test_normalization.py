"""BatchNorm1d, BatchNorm2d, LocalResponseNorm (src/chainrule/nn/normalization.py): several
training steps then eval against torch (outputs, gradients, running statistics,
num_batches_tracked), momentum=None, the variants without affine or running stats, init,
state_dict keys, reprs, errors."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def _torch():
    return pytest.importorskip("torch")


def _pair(name, C, dtype, **kwargs):
    """Our layer and torch's, with the same random gamma and beta."""
    torch = _torch()
    ours, theirs = getattr(nn, name)(C, **kwargs), getattr(torch.nn, name)(C, **kwargs)
    if dtype == np.float64:
        ours.double()
        theirs.double()
    rng = np.random.default_rng(7)
    for p, pt in zip(ours.parameters(), theirs.parameters()):
        v = rng.uniform(0.5, 1.5, C).astype(dtype)
        p.data[...] = v
        with torch.no_grad():
            pt.copy_(torch.from_numpy(v))
    return ours, theirs


def _step(ours, theirs, x, g, tol):
    torch = _torch()
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours.zero_grad()
    theirs.zero_grad()
    y, yt = ours(xc), theirs(xt)
    y.backward(cr.tensor(g))
    yt.backward(torch.from_numpy(g))
    np.testing.assert_allclose(y.data, yt.detach().numpy(), **tol)
    np.testing.assert_allclose(xc.grad.data, xt.grad.numpy(), **tol)
    for (n, p), (nt, pt) in zip(ours.named_parameters(), theirs.named_parameters()):
        assert n == nt
        np.testing.assert_allclose(p.grad.data, pt.grad.numpy(), err_msg=n, **tol)


def _check_buffers(ours, theirs, tol):
    for k, v in theirs.state_dict().items():
        np.testing.assert_allclose(ours.state_dict()[k].data, v.numpy(), err_msg=k, **tol)
    if ours.track_running_stats:
        assert ours.num_batches_tracked.dtype == np.int64
        assert int(ours.num_batches_tracked.item()) == int(theirs.num_batches_tracked)


CASES = [("BatchNorm2d", (6, 4, 5, 5)), ("BatchNorm1d", (10, 4)), ("BatchNorm1d", (6, 4, 7))]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("momentum", [0.1, None, 0.5])
@pytest.mark.parametrize("name, shape", CASES)
def test_five_training_steps_then_eval_match_torch(name, shape, momentum, dtype):
    tol = dict(rtol=2e-4, atol=2e-5) if dtype == np.float32 else dict(rtol=1e-9, atol=1e-11)
    ours, theirs = _pair(name, shape[1], dtype, momentum=momentum)
    rng = np.random.default_rng(0)
    for step in range(5):
        x = (rng.standard_normal(shape) * (1 + step) + step).astype(dtype)
        _step(ours, theirs, x, rng.standard_normal(shape).astype(dtype), tol)
    _check_buffers(ours, theirs, tol)
    ours.eval()
    theirs.eval()
    x = rng.standard_normal(shape).astype(dtype)
    _step(ours, theirs, x, rng.standard_normal(shape).astype(dtype), tol)
    _check_buffers(ours, theirs, tol)  # eval leaves the running stats and the count alone
    assert int(ours.num_batches_tracked.item()) == 5


@pytest.mark.parametrize("kwargs", [dict(affine=False), dict(track_running_stats=False),
                                    dict(bias=False),
                                    dict(affine=False, track_running_stats=False)])
def test_variants_match_torch_in_train_and_eval(kwargs):
    tol = dict(rtol=1e-9, atol=1e-11)
    ours, theirs = _pair("BatchNorm2d", 3, np.float64, **kwargs)
    rng = np.random.default_rng(1)
    for mode in ("train", "eval", "train"):
        getattr(ours, mode)()
        getattr(theirs, mode)()
        x = rng.standard_normal((4, 3, 3, 2)) + 1
        _step(ours, theirs, x, rng.standard_normal(x.shape), tol)
    _check_buffers(ours, theirs, tol)
    assert list(ours.state_dict()) == list(theirs.state_dict())


def test_init_state_dict_and_repr_as_torch():
    torch = _torch()
    for name, kwargs in [("BatchNorm2d", {}), ("BatchNorm1d", dict(eps=1e-3, momentum=None)),
                         ("BatchNorm2d", dict(affine=False)), ("BatchNorm2d", dict(bias=False)),
                         ("BatchNorm1d", dict(track_running_stats=False))]:
        ours, theirs = getattr(nn, name)(16, **kwargs), getattr(torch.nn, name)(16, **kwargs)
        assert repr(ours) == repr(theirs)
        sd, sdt = ours.state_dict(), theirs.state_dict()
        assert list(sd) == list(sdt)
        for k in sd:
            np.testing.assert_array_equal(sd[k].data, sdt[k].numpy())
            assert sd[k].shape == tuple(sdt[k].shape)
        assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    bn = nn.BatchNorm2d(4)
    assert bn.weight.dtype == np.float32 and bn.num_batches_tracked.shape == ()


def test_load_torch_state_dict_and_double_keeps_the_counter_int64():
    torch = _torch()
    theirs = torch.nn.BatchNorm2d(3)
    theirs(torch.randn(4, 3, 2, 2))
    ours = nn.BatchNorm2d(3)
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    np.testing.assert_allclose(ours.running_mean.data, theirs.running_mean.numpy())
    assert int(ours.num_batches_tracked.item()) == 1
    ours.double()
    assert ours.running_var.dtype == np.float64 and ours.num_batches_tracked.dtype == np.int64
    ours.reset_running_stats()
    assert int(ours.num_batches_tracked.item()) == 0 and ours.running_var.data.tolist() == [1] * 3


def test_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"BatchNorm2d\(16\): expected input \(N, 16, H, W\), "
                                         r"got \(8, 3, 32, 32\)"):
        nn.BatchNorm2d(16)(cr.randn(8, 3, 32, 32))
    with pytest.raises(ValueError, match=r"BatchNorm2d\(3\): expected input \(N, 3, H, W\), "
                                         r"got \(8, 3\)"):
        nn.BatchNorm2d(3)(cr.randn(8, 3))
    with pytest.raises(ValueError, match=r"BatchNorm1d\(5\): expected input \(N, 5\) or "
                                         r"\(N, 5, L\), got \(8, 3, 4, 4\)"):
        nn.BatchNorm1d(5)(cr.randn(8, 3, 4, 4))
    bn = nn.BatchNorm1d(16)
    with pytest.raises(ValueError, match=r"BatchNorm1d\(16\): expected more than 1 value per "
                                         r"channel when training, got input size \(1, 16\)"):
        bn(cr.randn(1, 16))
    assert int(bn.num_batches_tracked.item()) == 0
    bn.eval()
    assert bn(cr.randn(1, 16)).shape == (1, 16)  # fine in eval mode
    with pytest.raises(ValueError, match="num_features must be a positive int"):
        nn.BatchNorm2d(0)
    with pytest.raises(ValueError, match="momentum"):
        nn.BatchNorm2d(3, momentum=2.0)


def test_local_response_norm_layer_matches_torch():
    torch = _torch()
    ours = nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)
    theirs = torch.nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)
    assert repr(ours) == repr(theirs) and repr(nn.LocalResponseNorm(3)) == repr(
        torch.nn.LocalResponseNorm(3))
    assert ours.state_dict() == {}
    x = (np.random.default_rng(2).standard_normal((2, 8, 5, 5)) * 10).astype(np.float32)
    xc, xt = cr.tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours(xc).sum().backward()
    theirs(xt).sum().backward()
    np.testing.assert_allclose(ours(xc).data, theirs(xt).detach().numpy(), rtol=1e-5)
    np.testing.assert_allclose(xc.grad.data, xt.grad.numpy(), rtol=1e-4, atol=1e-6)
    with pytest.raises(ValueError, match=r"LocalResponseNorm\(5\): expected input \(N, C, \*\)"):
        ours(cr.randn(4, 8))
