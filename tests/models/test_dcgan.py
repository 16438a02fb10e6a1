"""DCGAN nets (models/dcgan.py): the well-known parameter counts, output shapes for every supported
image size, the same function (and gradients) as torch twins in train and eval modes, the paper's
initialization, and errors for bad sizes and inputs."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.models import DCGANDiscriminator, DCGANGenerator, dcgan_init_
from chainrule.ops._util import OpError

from .cnn_helpers import bn, conv, n_params, no_init, torch_state


def test_default_parameter_counts_by_hand():
    """64x64, nz=100, ngf=ndf=64, nc=3, no conv biases (k x k kernels, BN = gamma + beta):

    G: 100*512*16 = 819,200 + 512*256*16 = 2,097,152 + 256*128*16 = 524,288 + 128*64*16 = 131,072
       + 64*3*16 = 3,072  (convs 3,574,784)  + BN 2*(512+256+128+64) = 1,920  -> 3,576,704
    D: 3*64*16 = 3,072 + 64*128*16 = 131,072 + 128*256*16 = 524,288 + 256*512*16 = 2,097,152
       + 512*1*16 = 8,192  (convs 2,763,776)  + BN 2*(128+256+512) = 1,792  -> 2,765,568
    """
    g_want = (conv(100, 512, 4, False) + conv(512, 256, 4, False) + conv(256, 128, 4, False)
              + conv(128, 64, 4, False) + conv(64, 3, 4, False) + bn(512) + bn(256) + bn(128)
              + bn(64))
    d_want = (conv(3, 64, 4, False) + conv(64, 128, 4, False) + conv(128, 256, 4, False)
              + conv(256, 512, 4, False) + conv(512, 1, 4, False) + bn(128) + bn(256) + bn(512))
    assert (g_want, d_want) == (3_576_704, 2_765_568)
    with no_init():
        g, d = DCGANGenerator(), DCGANDiscriminator()
    assert n_params(g) == g_want
    assert n_params(d) == d_want
    assert n_params(DCGANDiscriminator(sigmoid=True)) == d_want  # the Sigmoid has no parameters


# --- torch twins, written out layer by layer for each size -------------------------------------

def torch_generator(nz, ngf, nc, image_size):
    tn = pytest.importorskip("torch").nn

    def up(cin, cout, k=4, s=2, p=1):
        return [tn.ConvTranspose2d(cin, cout, k, s, p, bias=False), tn.BatchNorm2d(cout),
                tn.ReLU(True)]

    if image_size == 64:
        layers = (up(nz, ngf * 8, 4, 1, 0) + up(ngf * 8, ngf * 4) + up(ngf * 4, ngf * 2)
                  + up(ngf * 2, ngf))
    elif image_size == 32:
        layers = up(nz, ngf * 4, 4, 1, 0) + up(ngf * 4, ngf * 2) + up(ngf * 2, ngf)
    elif image_size == 28:
        layers = up(nz, ngf * 2, 7, 1, 0) + up(ngf * 2, ngf)
    last = [tn.ConvTranspose2d(ngf, nc, 4, 2, 1, bias=False), tn.Tanh()]
    ref = tn.Module()
    ref.main = tn.Sequential(*layers, *last)
    return ref


def torch_discriminator(nc, ndf, image_size, sigmoid=False):
    tn = pytest.importorskip("torch").nn

    def down(cin, cout):
        return [tn.Conv2d(cin, cout, 4, 2, 1, bias=False), tn.BatchNorm2d(cout),
                tn.LeakyReLU(0.2, True)]

    layers = [tn.Conv2d(nc, ndf, 4, 2, 1, bias=False), tn.LeakyReLU(0.2, True)]
    if image_size == 64:
        layers += down(ndf, ndf * 2) + down(ndf * 2, ndf * 4) + down(ndf * 4, ndf * 8)
        layers.append(tn.Conv2d(ndf * 8, 1, 4, 1, 0, bias=False))
    elif image_size == 32:
        layers += down(ndf, ndf * 2) + down(ndf * 2, ndf * 4)
        layers.append(tn.Conv2d(ndf * 4, 1, 4, 1, 0, bias=False))
    elif image_size == 28:
        layers += down(ndf, ndf * 2)
        layers.append(tn.Conv2d(ndf * 2, 1, 7, 1, 0, bias=False))
    if sigmoid:
        layers.append(tn.Sigmoid())
    ref = tn.Module()
    ref.main = tn.Sequential(*layers)
    return ref


def torch_count(ref):
    return sum(p.numel() for p in ref.parameters())


@pytest.mark.parametrize("nz, ngf, nc, size", [(100, 64, 3, 64), (100, 64, 3, 32),
                                               (64, 32, 1, 28), (10, 8, 2, 64)])
def test_parameter_counts_match_torch(nz, ngf, nc, size):
    with no_init():
        g = DCGANGenerator(nz=nz, ngf=ngf, nc=nc, image_size=size)
        d = DCGANDiscriminator(nc=nc, ndf=ngf, image_size=size)
    tg, td = torch_generator(nz, ngf, nc, size), torch_discriminator(nc, ngf, size)
    assert n_params(g) == torch_count(tg)
    assert n_params(d) == torch_count(td)
    if (nz, ngf, nc, size) == (100, 64, 3, 64):  # the numbers of the by-hand test, from torch
        assert (torch_count(tg), torch_count(td)) == (3_576_704, 2_765_568)
    # same keys and shapes: strict loading would fail otherwise
    assert {k: tuple(v.shape) for k, v in tg.state_dict().items()} == {
        k: tuple(v.shape) for k, v in g.state_dict().items()}
    assert {k: tuple(v.shape) for k, v in td.state_dict().items()} == {
        k: tuple(v.shape) for k, v in d.state_dict().items()}


@pytest.mark.parametrize("size, nc, first", [(8, 3, 4), (16, 3, 4), (32, 3, 4), (64, 3, 4),
                                             (128, 3, 4), (14, 1, 7), (28, 1, 7), (56, 1, 7)])
def test_output_shapes(size, nc, first):
    g = DCGANGenerator(nz=12, ngf=4, nc=nc, image_size=size)
    d = DCGANDiscriminator(nc=nc, ndf=4, image_size=size)
    z = cr.randn(3, 12)
    x = g(z)
    assert x.shape == (3, nc, size, size)
    assert np.all(np.abs(x.numpy()) <= 1)                       # tanh output
    assert g.main[0](z.reshape(3, 12, 1, 1)).shape == (3, g.main[0].out_channels, first, first)
    # stride-2 layers: log2(size / first), the widths halve towards the image
    ups = [m for m in g.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(ups) - 1 == int(np.log2(size // first))
    assert [m.out_channels for m in ups[:-1]] == [4 * 2 ** i for i in range(len(ups) - 2, -1, -1)]
    np.testing.assert_array_equal(g(z.reshape(3, 12, 1, 1)).numpy(), x.numpy())  # 4-D z too
    logits = d(x)
    assert logits.shape == (3,)
    p = DCGANDiscriminator(nc=nc, ndf=4, image_size=size, sigmoid=True)(x).numpy()
    assert p.shape == (3,) and np.all((p > 0) & (p < 1))


@pytest.mark.parametrize("size, nc", [(64, 3), (32, 3), (28, 1)])
def test_same_function_as_torch_train_and_eval(size, nc):
    """Copied weights give torch's outputs in train mode (batch statistics, and the running
    statistics after the step), the same parameter gradients, and the same outputs in eval mode
    (running statistics)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(0)
    nz, ngf = 16, 8
    for sigmoid in (False, True):
        g = DCGANGenerator(nz=nz, ngf=ngf, nc=nc, image_size=size)
        d = DCGANDiscriminator(nc=nc, ndf=ngf, image_size=size, sigmoid=sigmoid)
        tg, td = torch_generator(nz, ngf, nc, size), torch_discriminator(nc, ngf, size, sigmoid)
        tg.load_state_dict(torch_state(g))
        td.load_state_dict(torch_state(d))
        z = rng.standard_normal((4, nz)).astype(np.float32)
        w = rng.standard_normal(4).astype(np.float32)

        # train mode: D(G(z)) through both nets, weighted sum, backward
        zc = cr.tensor(z)
        x = g(zc)
        out = d(x)
        (out * cr.tensor(w)).sum().backward()
        zt = torch.from_numpy(z)
        xt = tg.main(zt.reshape(4, nz, 1, 1))
        outt = td.main(xt).reshape(-1)
        (outt * torch.from_numpy(w)).sum().backward()
        np.testing.assert_allclose(x.numpy(), xt.detach().numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(out.numpy(), outt.detach().numpy(), rtol=1e-4, atol=1e-5)
        for net, ref in ((g, tg), (d, td)):
            params = dict(ref.named_parameters())
            for name, p in net.named_parameters():
                np.testing.assert_allclose(p.grad.numpy(), params[name].grad.numpy(),
                                           rtol=1e-3, atol=1e-5, err_msg=name)
            bufs = dict(ref.named_buffers())
            for name, b in net.named_buffers():
                np.testing.assert_allclose(b.numpy(), bufs[name].numpy(), rtol=1e-4, atol=1e-6,
                                           err_msg=name)

        # eval mode: the running statistics (one update from their start) are used
        for net in (g, d, tg, td):
            net.eval()
        with cr.no_grad():
            x, out = g(zc), d(g(zc))
        with torch.no_grad():
            xt = tg.main(zt.reshape(4, nz, 1, 1))
            outt = td.main(xt).reshape(-1)
        np.testing.assert_allclose(x.numpy(), xt.numpy(), rtol=1e-4, atol=1e-5)
        np.testing.assert_allclose(out.numpy(), outt.numpy(), rtol=1e-4, atol=1e-5)


def _conv_and_bn(net):
    convs = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))]
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    return convs, bns


@pytest.mark.parametrize("make", [lambda: DCGANGenerator(image_size=32),
                                  lambda: DCGANDiscriminator(image_size=32)],
                         ids=["generator", "discriminator"])
def test_init_statistics(make):
    """Conv weights ~ N(0, 0.02^2), BN gamma ~ N(1, 0.02^2), beta = 0 (not PyTorch's defaults:
    U(+-1/sqrt(fan_in)), gamma = 1); reset_parameters redraws them."""
    net = make()
    convs, bns = _conv_and_bn(net)
    assert all(m.bias is None for m in convs)
    for m in convs:
        w = m.weight.numpy()
        if w.size >= 2000:  # enough draws for tight bounds
            assert abs(w.mean()) < 0.003, m
            assert 0.018 < w.std() < 0.022, m
        assert np.abs(w).max() < 0.02 * 7, m
    gammas = np.concatenate([m.weight.numpy() for m in bns])
    assert gammas.size >= 224
    assert abs(gammas.mean() - 1) < 0.005
    assert 0.016 < gammas.std() < 0.024
    assert not np.all(gammas == 1)
    for m in bns:
        np.testing.assert_array_equal(m.bias.numpy(), 0)
        np.testing.assert_array_equal(m.running_mean.numpy(), 0)
        np.testing.assert_array_equal(m.running_var.numpy(), 1)
    before = convs[0].weight.numpy().copy()
    net.reset_parameters()
    after = convs[0].weight.numpy()
    assert not np.array_equal(before, after)
    assert 0.015 < after.std() < 0.025


def test_dcgan_init_on_other_modules():
    """``net.apply(dcgan_init_)`` gives any net the paper's init; biases are zeroed."""
    net = nn.Sequential(nn.Conv2d(8, 64, 4, bias=True), nn.BatchNorm2d(64), nn.ReLU(),
                        nn.ConvTranspose2d(64, 8, 4), nn.BatchNorm1d(8), nn.Linear(8, 8))
    linear_before = net[5].weight.numpy().copy()
    net.apply(dcgan_init_)
    assert 0.015 < net[0].weight.numpy().std() < 0.025
    assert 0.015 < net[3].weight.numpy().std() < 0.025
    np.testing.assert_array_equal(net[0].bias.numpy(), 0)
    np.testing.assert_array_equal(net[3].bias.numpy(), 0)
    assert abs(net[1].weight.numpy().mean() - 1) < 0.02
    assert abs(net[4].weight.numpy().mean() - 1) < 0.05
    np.testing.assert_array_equal(net[5].weight.numpy(), linear_before)  # left alone


def test_backward_reaches_every_parameter():
    g = DCGANGenerator(nz=8, ngf=4, nc=1, image_size=28)
    d = DCGANDiscriminator(nc=1, ndf=4, image_size=28)
    z = cr.randn(3, 8, requires_grad=True)
    d(g(z)).sum().backward()
    for name, p in [*g.named_parameters(prefix="g"), *d.named_parameters(prefix="d")]:
        assert p.grad is not None and p.grad.shape == p.shape, name
        assert np.all(np.isfinite(p.grad.numpy())) and np.any(p.grad.numpy() != 0), name
    assert z.grad.shape == (3, 8)


@pytest.mark.parametrize("size", [0, 1, 2, 4, 7, 12, 30, 48, 100, -32])
def test_unsupported_sizes(size):
    for make in (lambda: DCGANGenerator(image_size=size),
                 lambda: DCGANDiscriminator(image_size=size)):
        with pytest.raises(ValueError, match=f"unsupported image_size {size}.*4 \\* 2\\^k"):
            make()


def test_bad_arguments_and_inputs():
    with pytest.raises(TypeError, match="DCGANGenerator: image_size must be an int, got float"):
        DCGANGenerator(image_size=32.0)
    with pytest.raises(TypeError, match="image_size must be an int, got bool"):
        DCGANDiscriminator(image_size=True)
    with pytest.raises(ValueError, match="DCGANGenerator: nz must be a positive int, got 0"):
        DCGANGenerator(nz=0)
    with pytest.raises(ValueError, match="DCGANDiscriminator: ndf must be a positive int"):
        DCGANDiscriminator(ndf=-1)
    g = DCGANGenerator(nz=10, ngf=4, image_size=32)
    with pytest.raises(OpError, match=r"DCGANGenerator\(nz=10, image_size=32\): expected z of "
                                      r"shape \(N, 10\) or \(N, 10, 1, 1\), got \(2, 12\)"):
        g(cr.randn(2, 12))
    with pytest.raises(OpError, match=r"got \(2, 10, 2, 2\)"):
        g(cr.randn(2, 10, 2, 2))
    with pytest.raises(OpError, match=r"got \(10,\)"):
        g(cr.randn(10))
    with pytest.raises(TypeError, match="expected z as a Tensor"):
        g(np.zeros((2, 10), np.float32))
    d = DCGANDiscriminator(ndf=4, image_size=32)
    with pytest.raises(OpError, match=r"DCGANDiscriminator\(nc=3, image_size=32\): expected input "
                                      r"\(N, 3, 32, 32\), got \(2, 3, 64, 64\)"):
        d(cr.randn(2, 3, 64, 64))
    with pytest.raises(OpError, match=r"got \(2, 1, 32, 32\)"):
        d(cr.randn(2, 1, 32, 32))


def test_repr_names_the_configuration():
    assert "nz=100, ngf=64, nc=3, image_size=64" in repr(DCGANGenerator())
    assert "nc=1, ndf=64, image_size=28, sigmoid=True" in repr(
        DCGANDiscriminator(nc=1, image_size=28, sigmoid=True))
    assert isinstance(DCGANDiscriminator(image_size=32, sigmoid=True).main[-1], nn.Sigmoid)
