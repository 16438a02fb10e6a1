"""MLPGenerator / MLPDiscriminator: the fully connected GAN pair, called as the DCGAN pair."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.models import (DCGANDiscriminator, DCGANGenerator, MLPDiscriminator,
                              MLPGenerator)
from chainrule.ops._util import OpError


def _count(m):
    return sum(p.numel() for p in m.parameters())


def test_shapes_ranges_and_parameter_counts():
    cr.manual_seed(0)
    g, d = MLPGenerator(), MLPDiscriminator()
    assert _count(g) == 1_488_144 and _count(d) == 533_505  # as the docstrings say
    z = cr.randn(5, 100)
    x = g(z)
    assert x.shape == (5, 1, 28, 28)
    assert np.abs(x.numpy()).max() <= 1.0  # tanh
    assert d(x).shape == (5,)
    # z as (N, nz, 1, 1), as DCGANGenerator takes it, gives the same images (eval mode: BN
    # running statistics, no batch dependence)
    g.eval()
    assert np.allclose(g(z).numpy(), g(z.reshape(5, 100, 1, 1)).numpy())


def test_same_call_conventions_as_the_dcgan_pair():
    cr.manual_seed(1)
    z = cr.randn(3, 16)
    for g, d in ((MLPGenerator(nz=16, hidden=32, nc=3, image_size=8),
                  MLPDiscriminator(nc=3, hidden=(32, 16), image_size=8)),
                 (DCGANGenerator(nz=16, ngf=4, nc=3, image_size=8),
                  DCGANDiscriminator(nc=3, ndf=4, image_size=8))):
        x = g(z)
        assert x.shape == (3, 3, 8, 8) and d(x).shape == (3,)
        assert list(g.state_dict())[0].startswith("main.")


def test_layers_batch_norm_dropout_and_sigmoid():
    g = MLPGenerator(nz=4, hidden=(8, 6), image_size=3)
    kinds = [type(m).__name__ for m in g.main]
    assert kinds == ["Linear", "BatchNorm1d", "ReLU", "Linear", "BatchNorm1d", "ReLU", "Linear",
                     "Tanh"]
    assert g.main[0].bias is None and g.main[6].bias is not None  # BN's beta is the bias
    plain = MLPGenerator(nz=4, hidden=8, image_size=3, batch_norm=False)
    assert [type(m).__name__ for m in plain.main] == ["Linear", "ReLU", "Linear", "Tanh"]
    assert plain.main[0].bias is not None
    d = MLPDiscriminator(hidden=(8,), image_size=3, dropout=0.3, sigmoid=True)
    assert [type(m).__name__ for m in d.main] == ["Linear", "LeakyReLU", "Dropout", "Linear",
                                                  "Sigmoid"]
    p = d(cr.randn(4, 1, 3, 3)).numpy()
    assert p.shape == (4,) and ((p > 0) & (p < 1)).all()
    assert "dropout=0.3" in repr(d) and "batch_norm=True" in repr(g)


def test_gradients_reach_the_generator_through_the_discriminator():
    cr.manual_seed(2)
    g = MLPGenerator(nz=8, hidden=16, image_size=4)
    d = MLPDiscriminator(hidden=8, image_size=4)
    d(g(cr.randn(6, 8))).sum().backward()
    assert all(p.grad is not None and np.isfinite(p.grad.numpy()).all()
               for p in list(g.parameters()) + list(d.parameters()))
    assert any(np.abs(p.grad.numpy()).sum() > 0 for p in g.parameters())


def test_errors_name_what_was_expected():
    g = MLPGenerator(nz=8, hidden=16, image_size=4)
    with pytest.raises(OpError, match=r"MLPGenerator\(nz=8, image_size=4\): expected z of "
                                      r"shape \(N, 8\) or \(N, 8, 1, 1\), got \(2, 7\)"):
        g(cr.randn(2, 7))
    with pytest.raises(TypeError, match="got ndarray"):
        g(np.zeros((2, 8)))
    d = MLPDiscriminator(hidden=8, image_size=4)
    with pytest.raises(OpError, match=r"expected input \(N, 1, 4, 4\), got \(2, 1, 5, 5\)"):
        d(cr.randn(2, 1, 5, 5))
    with pytest.raises(ValueError, match="every hidden width must be a positive int"):
        MLPGenerator(hidden=(8, 0))
    with pytest.raises(ValueError, match="at least one hidden layer"):
        MLPDiscriminator(hidden=())
    with pytest.raises(ValueError, match=r"dropout must be in \[0, 1\)"):
        MLPDiscriminator(dropout=1.0)
    with pytest.raises(ValueError, match="image_size must be a positive int"):
        MLPGenerator(image_size=0)


def test_matches_torch_with_the_same_weights():
    torch = pytest.importorskip("torch")
    cr.manual_seed(3)
    g = MLPGenerator(nz=6, hidden=(10, 12), image_size=5)
    d = MLPDiscriminator(hidden=(9, 7), image_size=5)
    tg = torch.nn.Sequential(torch.nn.Linear(6, 10, bias=False), torch.nn.BatchNorm1d(10),
                             torch.nn.ReLU(), torch.nn.Linear(10, 12, bias=False),
                             torch.nn.BatchNorm1d(12), torch.nn.ReLU(), torch.nn.Linear(12, 25),
                             torch.nn.Tanh())
    td = torch.nn.Sequential(torch.nn.Linear(25, 9), torch.nn.LeakyReLU(0.2),
                             torch.nn.Linear(9, 7), torch.nn.LeakyReLU(0.2),
                             torch.nn.Linear(7, 1))
    for ours, theirs in ((g, tg), (d, td)):
        theirs.load_state_dict({k[len("main."):]: torch.tensor(np.asarray(v.numpy()))
                                for k, v in ours.state_dict().items()})
    z = np.random.default_rng(0).standard_normal((4, 6)).astype(np.float32)
    x = g(cr.tensor(z))  # training mode: batch statistics on both sides
    tx = tg(torch.tensor(z)).reshape(4, 1, 5, 5)
    assert np.allclose(x.numpy(), tx.detach().numpy(), atol=1e-5)
    assert np.allclose(d(x).numpy(), td(tx.reshape(4, 25)).reshape(-1).detach().numpy(),
                       atol=1e-5)
