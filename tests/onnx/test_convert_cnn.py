"""ONNX export of convolutions, pooling, batch and local response normalization, dropout in eval,
Inception's concatenation and a DCGAN-generator-shaped stack of transposed convolutions."""
import pytest

import chainrule as cr
from chainrule import nn, ops

from .helpers import randomize_batchnorm, roundtrip


@pytest.mark.parametrize("kw", [
    dict(kernel_size=3),
    dict(kernel_size=3, stride=2, padding=1),
    dict(kernel_size=(3, 2), stride=(1, 2), padding=(2, 0), dilation=(2, 1)),
    dict(kernel_size=3, padding=1, groups=2, bias=False),
    dict(kernel_size=4, padding="same", dilation=1),
    dict(kernel_size=1),
], ids=["plain", "strided", "asymmetric-dilated", "groups-nobias", "same-even", "1x1"])
def test_conv2d(tmp_path, kw):
    model = nn.Conv2d(4, 6, **kw)
    roundtrip(model, cr.randn(2, 4, 9, 10), tmp_path, others=[cr.randn(3, 4, 9, 10)])


@pytest.mark.parametrize("kw", [
    dict(kernel_size=4, stride=2, padding=1),
    dict(kernel_size=3, stride=2, padding=1, output_padding=1),
    dict(kernel_size=3, stride=(2, 1), dilation=2, groups=2, bias=False),
], ids=["dcgan", "output-padding", "dilated-groups"])
def test_conv_transpose2d(tmp_path, kw):
    model = nn.ConvTranspose2d(4, 6, **kw)
    roundtrip(model, cr.randn(2, 4, 5, 6), tmp_path, others=[cr.randn(1, 4, 5, 6)])


def test_unbatched_conv_and_pool_inputs(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 4, 3), nn.MaxPool2d(2), nn.AvgPool2d(2),
                          nn.AdaptiveAvgPool2d(1))
    roundtrip(model, cr.randn(3, 10, 10), tmp_path, dynamic_batch=False)


@pytest.mark.parametrize("layer", [
    nn.MaxPool2d(2),
    nn.MaxPool2d(3, stride=2, padding=1),
    nn.MaxPool2d(3, stride=2, ceil_mode=True),
    nn.MaxPool2d(2, stride=1, dilation=2),
    nn.AvgPool2d(2),
    nn.AvgPool2d(3, stride=2, padding=1),
    nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
    nn.AvgPool2d(3, stride=2, ceil_mode=True),
    nn.AvgPool2d(2, divisor_override=3),
    nn.AdaptiveAvgPool2d(1),
    nn.AdaptiveAvgPool2d((3, 2)),
    nn.AdaptiveAvgPool2d((3, 4)),
    nn.AdaptiveMaxPool2d(1),
    nn.AdaptiveMaxPool2d((3, 2)),
], ids=lambda m: repr(m))
def test_pooling(tmp_path, layer):
    """Padding, ceil_mode and divisors follow chainrule (PyTorch's rules); adaptive sizes that
    divide the input and that don't ((3, 4) from 9x8... windows of unequal size)."""
    roundtrip(layer, cr.randn(2, 3, 9, 8), tmp_path, others=[cr.randn(4, 3, 9, 8)])


def test_batchnorm_eval_1d_2d_and_without_affine(tmp_path):
    seq2d = randomize_batchnorm(nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(),
                                              nn.BatchNorm2d(4, affine=False)))
    proto, _ = roundtrip(seq2d, cr.randn(2, 3, 6, 6), tmp_path, others=[cr.randn(5, 3, 6, 6)])
    assert "BatchNormalization" in {n.op_type for n in proto.graph.node}
    inits = {t.name for t in proto.graph.initializer}
    assert {"1.running_mean", "1.running_var", "1.weight", "1.bias"} <= inits
    seq1d = randomize_batchnorm(nn.Sequential(nn.Linear(5, 4), nn.BatchNorm1d(4)))
    roundtrip(seq1d, cr.randn(3, 5), tmp_path, others=[cr.randn(8, 5)])
    seq1d_seq = randomize_batchnorm(nn.Sequential(nn.BatchNorm1d(4)))
    roundtrip(seq1d_seq, cr.randn(3, 4, 7), tmp_path, others=[cr.randn(2, 4, 7)])


def test_batchnorm_exports_in_eval_even_from_a_training_model(tmp_path):
    model = randomize_batchnorm(nn.Sequential(nn.BatchNorm2d(3), nn.Dropout2d(0.5)))
    model.train()
    roundtrip(model, cr.randn(2, 3, 4, 4), tmp_path, others=[cr.randn(3, 3, 4, 4)])
    model.train()
    assert model.training and model[0].training


def test_local_response_norm(tmp_path):
    model = nn.Sequential(nn.Conv2d(3, 8, 3), nn.ReLU(),
                          nn.LocalResponseNorm(5, alpha=1e-2, beta=0.75, k=2.0))
    roundtrip(model, cr.randn(2, 3, 7, 7), tmp_path, others=[cr.randn(1, 3, 7, 7)])


def test_inception_block_concatenates_its_branches(tmp_path):
    block = randomize_batchnorm(cr.models.Inception(8, 4, 4, 6, 2, 3, 3))
    proto, _ = roundtrip(block, cr.randn(2, 8, 7, 7), tmp_path, others=[cr.randn(3, 8, 7, 7)])
    assert "Concat" in {n.op_type for n in proto.graph.node}


def test_dcgan_generator_shaped_stack(tmp_path):
    """ConvTranspose2d + BatchNorm + ReLU ... + Tanh from a (N, nz, 1, 1) code to an image."""
    nz = 8
    gen = randomize_batchnorm(nn.Sequential(
        nn.ConvTranspose2d(nz, 16, 4, 1, 0, bias=False), nn.BatchNorm2d(16), nn.ReLU(),
        nn.ConvTranspose2d(16, 8, 4, 2, 1, bias=False), nn.BatchNorm2d(8), nn.ReLU(),
        nn.ConvTranspose2d(8, 3, 4, 2, 1, bias=False), nn.Tanh()))
    proto, sess = roundtrip(gen, cr.randn(2, nz, 1, 1), tmp_path, others=[cr.randn(5, nz, 1, 1)])
    assert sess.get_outputs()[0].shape == ["batch", 3, 16, 16]


def test_residual_add_and_global_pool(tmp_path):
    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv = nn.Conv2d(4, 4, 3, padding=1)
            self.bn = nn.BatchNorm2d(4)

        def forward(self, x):
            return ops.relu(self.bn(self.conv(x)) + x)

    model = randomize_batchnorm(nn.Sequential(Block(), Block(), nn.AdaptiveAvgPool2d(1),
                                              nn.Flatten(), nn.Linear(4, 2)))
    roundtrip(model, cr.randn(2, 4, 6, 6), tmp_path, others=[cr.randn(3, 4, 6, 6)])
