"""ONNX export of elementwise ops, activations, softmax, reductions and matrix products: each model
runs in onnxruntime with chainrule's outputs, on the example's batch size and on another one."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, ops

from .helpers import roundtrip


def test_mlp_with_every_activation_layer(tmp_path):
    model = nn.Sequential(nn.Linear(6, 8), nn.ReLU(), nn.Linear(8, 8), nn.LeakyReLU(0.2),
                          nn.Linear(8, 8), nn.Sigmoid(), nn.Linear(8, 8), nn.Tanh(),
                          nn.Linear(8, 8), nn.Softplus(beta=2.0, threshold=1.0),
                          nn.Linear(8, 5), nn.Dropout(0.5), nn.Softmax(dim=1))
    proto, _ = roundtrip(model, cr.randn(3, 6), tmp_path, others=[cr.randn(7, 6) * 3])
    ops_used = {n.op_type for n in proto.graph.node}
    assert {"Gemm", "Relu", "LeakyRelu", "Sigmoid", "Tanh", "Softplus", "Softmax"} <= ops_used
    assert "Dropout" not in ops_used  # the identity in evaluation mode


def test_log_softmax_over_a_middle_dim(tmp_path):
    model = nn.Sequential(nn.Linear(4, 6), nn.LogSoftmax(dim=1))
    roundtrip(model, cr.randn(2, 3, 4), tmp_path, others=[cr.randn(5, 3, 4)])


def test_linear_on_a_3d_input_uses_matmul(tmp_path):
    model = nn.Linear(4, 3)
    proto, _ = roundtrip(model, cr.randn(2, 5, 4), tmp_path, others=[cr.randn(1, 5, 4)])
    assert "MatMul" in {n.op_type for n in proto.graph.node}
    no_bias = nn.Linear(4, 3, bias=False)
    roundtrip(no_bias, cr.randn(2, 4), tmp_path, others=[cr.randn(6, 4)])


class Arithmetic(nn.Module):
    """Elementwise arithmetic with broadcasting against parameters and Python scalars."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(cr.randn(4))
        self.shift = nn.Parameter(cr.randn(3, 1))

    def forward(self, x):  # x (N, 3, 4)
        a = (x + self.shift) * self.scale - x / (x.abs() + 1.0)
        b = 2.0 - a ** 2 + ops.exp(-a.abs()) + ops.log(a.abs() + 1) + ops.sqrt(a * a + 1)
        c = ops.rsqrt(b * b + 1) + ops.sin(b) * ops.cos(b) + ops.log1p(b.abs()) + ops.square(b)
        d = ops.clamp(c, -1.5, 2.0) + ops.maximum(c, self.shift) - ops.minimum(c, 0.5)
        e = ops.pow(d.abs() + 1, self.scale.abs()) + (1.0 / (d.abs() + 1)) - (-d)
        return ops.leaky_relu(e, 0.1) + ops.softplus(e) + ops.sigmoid(e) * ops.tanh(e) + e.clone()


def test_elementwise_arithmetic_with_broadcasting(tmp_path):
    roundtrip(Arithmetic(), cr.randn(2, 3, 4), tmp_path, others=[cr.randn(5, 3, 4) * 2])


class Reductions(nn.Module):
    def forward(self, x):  # x (N, 3, 4): reduce over the non-batch dims
        s = x.sum(2) + x.mean(2) + ops.amax(x, 2) + ops.amin(x, 2) + ops.max(x, 2).values
        t = ops.var(x, 1, keepdim=True) + ops.std(x, (1, 2), keepdim=True) + \
            ops.norm(x, dim=2, keepdim=True) + ops.logsumexp(x, 2, keepdim=True)
        return s, t, x.sum((1, 2), keepdim=True)


@pytest.mark.parametrize("opset", [13, 17, 18])
def test_reductions_in_each_opset_form(tmp_path, opset):
    """ReduceSum takes its axes as an input from opset 13, the other reductions from opset 18."""
    proto, _ = roundtrip(Reductions(), cr.randn(2, 3, 4), tmp_path, others=[cr.randn(4, 3, 4)],
                         opset=opset)
    assert proto.opset_import[0].version == opset


class Products(nn.Module):
    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(cr.randn(4, 5))
        self.v = nn.Parameter(cr.randn(5))

    def forward(self, x):  # x (N, 3, 4)
        y = ops.matmul(x, self.w)  # (N, 3, 5)
        z = ops.matmul(y, y.transpose(1, 2))  # batched (N, 3, 3)
        p = y.permute(0, 2, 1)  # (N, 5, 3)
        return z, ops.matmul(y, self.v), p


def test_matmul_transpose_permute(tmp_path):
    roundtrip(Products(), cr.randn(2, 3, 4), tmp_path, others=[cr.randn(3, 3, 4)])


def test_where_with_a_constant_mask_and_cast(tmp_path):
    class Masked(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("mask", cr.tensor([True, False, True, False]))

        def forward(self, x):
            return ops.masked_fill(x, self.mask, -1.0).double().float() * 2

    proto, _ = roundtrip(Masked(), cr.randn(3, 4), tmp_path, others=[cr.randn(6, 4)])
    assert {"Where", "Cast"} <= {n.op_type for n in proto.graph.node}


def test_values_match_torch_softmax_for_large_logits(tmp_path):
    """Stable softmax in both: logits of size 1e4 give finite, equal probabilities."""
    model = nn.Softmax(dim=-1)
    x = cr.tensor(np.array([[1e4, 0.0, -1e4], [3.0, 3.0, 3.0]], np.float32))
    _, sess = roundtrip(model, x, tmp_path)
    got = sess.run(None, {"input": x.numpy()})[0]
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got.sum(1), 1.0, rtol=1e-6)
