"""Notes 2.1: convolution, kernels, stride, padding, pooling, sub-sampling, and fully connected
layers as convolutions.

    s_uvw = sum_{i=1..R} sum_{j=1..R} sum_{k=1..C} W^w_ijk h_{t(u-1)-p+i, t(v-1)-p+j, k} + b^w

(1-based indices; kernel R x R x C, stride t, padding p; positions outside the input read 0).
chainrule stores W^w_ijk as weight[w, k, i-1, j-1] (PyTorch's (out, in, kH, kW) layout) and the
input h_xyk as x[n, k, x-1, y-1]. The sum is a cross-correlation (no kernel flip), as in the code.
"""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.nn import functional as F

from ._common import close, t


def _notes_conv(h, W, b, stride, pad):
    """The notes' index formula as loops. h: (H, Wd, C) = h_xyk; W: (n, R, R, C) = W^w_ijk."""
    H, Wd, C = h.shape
    n, R = W.shape[0], W.shape[1]
    U, V = (H + 2 * pad - R) // stride + 1, (Wd + 2 * pad - R) // stride + 1
    s = np.zeros((U, V, n))
    for u in range(1, U + 1):
        for v in range(1, V + 1):
            for w in range(n):
                acc = b[w]
                for i in range(1, R + 1):
                    for j in range(1, R + 1):
                        x, y = stride * (u - 1) - pad + i, stride * (v - 1) - pad + j
                        if 1 <= x <= H and 1 <= y <= Wd:
                            for k in range(1, C + 1):
                                acc += W[w, i - 1, j - 1, k - 1] * h[x - 1, y - 1, k - 1]
                s[u - 1, v - 1, w] = acc
    return s


def _notes_conv_backward(G, h, W, stride, pad):
    """Chain rule through the same sum: dL/dW^w_ijk = sum_uv G_uvw h_{t(u-1)-p+i, ...},
    dL/dh_xyk = sum of G_uvw W^w_ijk over the (u, v, w, i, j) that read h_xyk, dL/db^w = sum G."""
    H, Wd, C = h.shape
    U, V, n = G.shape
    R = W.shape[1]
    dW, dh = np.zeros_like(W), np.zeros_like(h)
    for u in range(1, U + 1):
        for v in range(1, V + 1):
            for i in range(1, R + 1):
                for j in range(1, R + 1):
                    x, y = stride * (u - 1) - pad + i, stride * (v - 1) - pad + j
                    if 1 <= x <= H and 1 <= y <= Wd:
                        for w in range(n):
                            g = G[u - 1, v - 1, w]
                            dW[w, i - 1, j - 1, :] += g * h[x - 1, y - 1, :]
                            dh[x - 1, y - 1, :] += g * W[w, i - 1, j - 1, :]
    return dW, dh, G.sum(axis=(0, 1))


@pytest.mark.parametrize("R,stride,pad", [(3, 1, 0), (3, 1, 1), (3, 2, 1), (2, 2, 0), (3, 3, 2)])
def test_convolution_index_form_equals_conv2d(R, stride, pad):
    """Forward and backward of F.conv2d = the notes' sum and its chain rule, on a 5x6x2 input with
    3 kernels; the output is floor((H + 2p - R) / t) + 1 per side."""
    rng = np.random.default_rng(R * 100 + stride * 10 + pad)
    h = rng.standard_normal((5, 6, 2))
    W = rng.standard_normal((3, R, R, 2))
    b = rng.standard_normal(3)
    want = _notes_conv(h, W, b, stride, pad)
    x = t(h.transpose(2, 0, 1)[None], grad=True)                 # (1, C, H, W)
    weight = t(W.transpose(0, 3, 1, 2), grad=True)               # (n, C, R, R)
    bias = t(b, grad=True)
    s = F.conv2d(x, weight, bias, stride=stride, padding=pad)
    assert s.shape == (1, 3, (5 + 2 * pad - R) // stride + 1, (6 + 2 * pad - R) // stride + 1)
    close(s.numpy()[0].transpose(1, 2, 0), want)
    G = rng.standard_normal(want.shape)
    s.backward(t(G.transpose(2, 0, 1)[None]))
    dW, dh, db = _notes_conv_backward(G, h, W, stride, pad)
    close(weight.grad.numpy().transpose(0, 2, 3, 1), dW)
    close(x.grad.numpy()[0].transpose(1, 2, 0), dh)
    close(bias.grad, db)


def test_convolution_index_form_on_the_fast_path():
    """The same sum with enough channels and positions (8 -> 8 channels, 2 x 16 x 16, 3x3, stride
    1) that conv2d takes its Winograd F(2x2, 3x3) path: the notes' sum, with the loops over
    (i, j) kept and the rest vectorized, forward and backward."""
    rng = np.random.default_rng(9)
    N, C, n, H, R = 2, 8, 8, 16, 3
    h = rng.standard_normal((N, H, H, C))                         # h_xyk per image
    W = rng.standard_normal((n, R, R, C)) / 3
    b = rng.standard_normal(n)
    hp = np.pad(h, ((0, 0), (1, 1), (1, 1), (0, 0)))              # p = 1
    want = np.zeros((N, H, H, n)) + b
    for i in range(R):
        for j in range(R):
            want += np.einsum("nuvk,wk->nuvw", hp[:, i:i + H, j:j + H], W[:, i, j])
    x = t(h.transpose(0, 3, 1, 2), grad=True)
    weight = t(W.transpose(0, 3, 1, 2), grad=True)
    s = F.conv2d(x, weight, t(b), padding=1)
    close(s.numpy().transpose(0, 2, 3, 1), want)
    G = rng.standard_normal(want.shape)
    s.backward(t(G.transpose(0, 3, 1, 2)))
    dW, dhp = np.zeros_like(W), np.zeros_like(hp)
    for i in range(R):
        for j in range(R):
            dW[:, i, j] = np.einsum("nuvw,nuvk->wk", G, hp[:, i:i + H, j:j + H])
            dhp[:, i:i + H, j:j + H] += np.einsum("nuvw,wk->nuvk", G, W[:, i, j])
    close(weight.grad.numpy().transpose(0, 2, 3, 1), dW)
    close(x.grad.numpy().transpose(0, 2, 3, 1), dhp[:, 1:-1, 1:-1])


def test_conv2d_layer_is_the_notes_sum():
    """nn.Conv2d holds the kernels W^w and biases b^w and computes the same sum."""
    cr.manual_seed(0)
    layer = nn.Conv2d(2, 4, kernel_size=3, stride=2, padding=1)
    rng = np.random.default_rng(1)
    h = rng.standard_normal((7, 5, 2))
    W = layer.weight.numpy().transpose(0, 2, 3, 1)
    want = _notes_conv(h, W, layer.bias.numpy(), 2, 1)
    close(layer(t(h.transpose(2, 0, 1)[None])).numpy()[0].transpose(1, 2, 0), want)


def _notes_pool(h, reduce, size=3, stride=1):
    """For each feature map, at each pixel, the max (or average) of the size x size patch around
    it (patches clipped at the border), every stride-th pixel kept."""
    C, H, Wd = h.shape
    r = size // 2
    out = np.zeros((C, (H - 1) // stride + 1, (Wd - 1) // stride + 1))
    for c in range(C):
        for a, x in enumerate(range(0, H, stride)):
            for bb, y in enumerate(range(0, Wd, stride)):
                patch = h[c, max(0, x - r):x + r + 1, max(0, y - r):y + r + 1]
                out[c, a, bb] = reduce(patch)
    return out


@pytest.mark.parametrize("stride", [1, 2])
def test_max_and_average_pooling_as_the_notes_define(stride):
    """Max pooling = max_pool2d(3, stride, padding 1) (the padding never wins a max); average
    pooling of the patch inside the map = avg_pool2d(3, stride, 1, count_include_pad=False). The
    max's gradient goes to the arg max of each patch, the average's is spread evenly."""
    rng = np.random.default_rng(stride)
    h = rng.standard_normal((2, 5, 6))
    x = t(h[None], grad=True)
    mx = F.max_pool2d(x, 3, stride=stride, padding=1)
    close(mx.numpy()[0], _notes_pool(h, np.max, stride=stride))
    av = F.avg_pool2d(x, 3, stride=stride, padding=1, count_include_pad=False)
    close(av.numpy()[0], _notes_pool(h, np.mean, stride=stride))
    # backward of max pooling (stride 2: each pixel in at most a few patches) by loops
    mx.sum().backward()
    want = np.zeros_like(h)
    for c in range(2):
        for x0 in range(0, 5, stride):
            for y0 in range(0, 6, stride):
                lo_x, lo_y = max(0, x0 - 1), max(0, y0 - 1)
                patch = h[c, lo_x:x0 + 2, lo_y:y0 + 2]
                i, j = np.unravel_index(np.argmax(patch), patch.shape)
                want[c, lo_x + i, lo_y + j] += 1
    close(x.grad.numpy()[0], want)


def test_subsampling_keeps_the_upper_left_pixel():
    """Partition the map into 2x2 blocks and keep each block's upper-left pixel: x[..., ::2, ::2],
    which is a 1x1 convolution with the identity kernel and stride 2, and 1x1 pooling with
    stride 2."""
    rng = np.random.default_rng(0)
    h = rng.standard_normal((1, 3, 6, 8))
    want = h[:, :, ::2, ::2]
    eye = np.eye(3)[:, :, None, None]
    close(F.conv2d(t(h), t(eye), stride=2), want)
    close(F.avg_pool2d(t(h), 1, stride=2), want)
    close(F.max_pool2d(t(h), 1, stride=2), want)


def test_fully_connected_layer_is_a_full_size_convolution():
    """A kernel as large as the input (R = H = W, no padding) gives 1x1 maps, each a weighted sum
    of all the elements of h_{l-1}: Linear on the flattened input, forward and backward."""
    cr.manual_seed(1)
    conv = nn.Conv2d(3, 5, kernel_size=4)
    fc = nn.Linear(3 * 4 * 4, 5)
    fc.weight.data[...] = conv.weight.numpy().reshape(5, -1)
    fc.bias.data[...] = conv.bias.numpy()
    rng = np.random.default_rng(2)
    h = rng.standard_normal((6, 3, 4, 4))
    xc, xf = t(h, grad=True), t(h.reshape(6, -1), grad=True)
    yc, yf = conv(xc), fc(xf)
    assert yc.shape == (6, 5, 1, 1)
    close(yc.numpy()[:, :, 0, 0], yf)
    G = rng.standard_normal((6, 5))
    yc.backward(t(G[:, :, None, None]))
    yf.backward(t(G))
    close(xc.grad.numpy().reshape(6, -1), xf.grad)
    close(conv.weight.grad.numpy().reshape(5, -1), fc.weight.grad)
    close(conv.bias.grad, fc.bias.grad)


def test_one_by_one_convolution_fuses_channels_at_each_pixel():
    """A 1x1 kernel is a weighted sum of the C channels at the same pixel (Figure 9; the inception
    net's 1x1 filters, 2.3): Linear over the channel axis at every pixel."""
    cr.manual_seed(2)
    conv = nn.Conv2d(4, 3, kernel_size=1)
    rng = np.random.default_rng(3)
    h = rng.standard_normal((2, 4, 5, 5))
    want = np.einsum("wk,nkxy->nwxy", conv.weight.numpy()[:, :, 0, 0], h)
    want += conv.bias.numpy()[None, :, None, None]
    close(conv(t(h)), want)
