"""ONNX export of the DCGAN nets (models/dcgan.py), eval mode: onnxruntime gives chainrule's
outputs on the example batch and on batches of other sizes (issue 9: "an exported DCGAN generator
runs in onnxruntime with outputs equal to chainrule's")."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.models import DCGANDiscriminator, DCGANGenerator

from .helpers import randomize_batchnorm, roundtrip


def spread(net, seed=0):
    """Conv weights with a variance that keeps activations O(1) (the paper's N(0, 0.02^2) makes
    outputs of ~0.01-0.05, against which atol=1e-5 would check little), and random BN."""
    rng = np.random.default_rng(seed)
    for m in net.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            w = m.weight.data
            fan = (w.shape[0] * w.shape[2] * w.shape[3] / (m.stride[0] * m.stride[1])
                   if isinstance(m, nn.ConvTranspose2d) else w[0].size)
            w[...] = rng.normal(0, 1.4 / np.sqrt(fan), w.shape)
    return randomize_batchnorm(net, seed)


@pytest.mark.parametrize("size, nc", [(32, 3), (64, 3), (28, 1)])
@pytest.mark.parametrize("z_rank", [2, 4])
def test_generator(tmp_path, size, nc, z_rank):
    """z of shape (N, nz) (reshaped inside the graph) or (N, nz, 1, 1); batch 2 exported, run on
    batches of 2, 5 and 1."""
    nz = 20
    g = spread(DCGANGenerator(nz=nz, ngf=16, nc=nc, image_size=size))

    def z(n):
        return cr.randn(n, nz) if z_rank == 2 else cr.randn(n, nz, 1, 1)

    proto, sess = roundtrip(g, z(2), tmp_path, others=[z(5), z(1)], rtol=1e-4, atol=1e-5)
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("ConvTranspose") == {32: 4, 64: 5, 28: 3}[size]
    assert "Tanh" in ops
    assert sess.get_inputs()[0].shape == ["batch", nz] + ([1, 1] if z_rank == 4 else [])
    assert sess.get_outputs()[0].shape[1:] == [nc, size, size]


@pytest.mark.parametrize("size, nc", [(32, 3), (64, 3), (28, 1)])
@pytest.mark.parametrize("sigmoid", [False, True])
def test_discriminator(tmp_path, size, nc, sigmoid):
    d = spread(DCGANDiscriminator(nc=nc, ndf=16, image_size=size, sigmoid=sigmoid))
    proto, sess = roundtrip(d, cr.randn(2, nc, size, size), tmp_path,
                            others=[cr.randn(5, nc, size, size), cr.randn(1, nc, size, size)],
                            rtol=1e-4, atol=1e-5)
    ops = [n.op_type for n in proto.graph.node]
    assert ops.count("Conv") == {32: 4, 64: 5, 28: 3}[size]
    assert ("Sigmoid" in ops) == sigmoid
    assert sess.get_inputs()[0].shape == ["batch", nc, size, size]
    assert len(sess.get_outputs()[0].shape) == 1  # (N,)


def test_generator_then_discriminator(tmp_path):
    """D(G(z)) as one graph: the two nets chained in a Sequential export as one file."""
    g = spread(DCGANGenerator(nz=8, ngf=8, image_size=32), seed=1)
    d = spread(DCGANDiscriminator(ndf=8, image_size=32, sigmoid=True), seed=2)
    model = cr.nn.Sequential(g, d)
    roundtrip(model, cr.randn(3, 8), tmp_path, others=[cr.randn(7, 8)])
