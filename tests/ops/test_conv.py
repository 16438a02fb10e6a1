"""conv2d and conv_transpose2d against torch (forward and every gradient), gradcheck, errors."""
import numpy as np
import pytest

import chainrule as cr
from chainrule.autograd import gradcheck
from chainrule.ops import conv2d, conv_transpose2d

pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")  # torch's note

RTOL = {np.float32: 1e-4, np.float64: 1e-6}


def _close(ours, ref, dtype, what):
    """rtol as in the brief; atol scaled by the size of the reference (sums of many products)."""
    atol = (1e-5 if dtype == np.float32 else 1e-10) * max(1.0, float(np.abs(ref).max()))
    np.testing.assert_allclose(ours, ref, rtol=RTOL[dtype], atol=atol, err_msg=what)


def _against_torch(fn, tfn, xshape, wshape, bias, dtype, seed=0, x_layout=None, **kw):
    """Run ours and torch's on the same inputs; compare the output and the gradients of
    sum(g * out) for a random g."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(seed)
    xa = rng.standard_normal(xshape).astype(dtype)
    wa = rng.standard_normal(wshape).astype(dtype)
    co = wshape[1] * kw.get("groups", 1) if fn is conv_transpose2d else wshape[0]
    ba = rng.standard_normal(co).astype(dtype) if bias else None
    if x_layout == "channels_last":  # an NCHW view of NHWC memory, as our convs hand out
        xa = np.ascontiguousarray(xa.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)
    x = cr.tensor(xa, requires_grad=True)
    x.data = xa  # keep the layout (tensor() copies to C order)
    w = cr.tensor(wa, requires_grad=True)
    b = cr.tensor(ba, requires_grad=True) if bias else None
    tx = torch.tensor(np.ascontiguousarray(xa), requires_grad=True)
    tw = torch.tensor(wa, requires_grad=True)
    tb = torch.tensor(ba, requires_grad=True) if bias else None
    y = fn(x, w, b, **kw)
    ty = tfn(tx, tw, tb, **kw)
    assert y.shape == tuple(ty.shape)
    assert y.dtype == dtype
    _close(y.data, ty.detach().numpy(), dtype, "output")
    ga = rng.standard_normal(y.shape).astype(dtype)
    y.backward(cr.tensor(ga))
    ty.backward(torch.from_numpy(ga))
    _close(x.grad.data, tx.grad.numpy(), dtype, "grad input")
    _close(w.grad.data, tw.grad.numpy(), dtype, "grad weight")
    if bias:
        _close(b.grad.data, tb.grad.numpy(), dtype, "grad bias")


# (input shape, weight shape, keyword args); weight (C_out, C_in/groups, KH, KW)
CONV_CASES = [
    ((2, 3, 7, 8), (4, 3, 3, 3), {}),
    ((2, 3, 7, 8), (4, 3, 3, 3), dict(padding=1)),
    ((2, 4, 6, 6), (5, 4, 1, 1), {}),                                   # 1x1: a plain GEMM
    ((2, 4, 7, 6), (3, 4, 1, 1), dict(stride=2)),
    ((2, 16, 3, 3), (16, 16, 1, 1), dict(stride=2)),                    # 1x1, many channels
    ((2, 2, 9, 9), (3, 2, 5, 5), dict(padding=2)),
    ((2, 3, 8, 7), (4, 3, 3, 2), dict(padding=(1, 0), stride=(2, 1))),  # non-square
    ((1, 3, 9, 10), (2, 3, 3, 3), dict(stride=3)),
    ((2, 3, 11, 9), (4, 3, 3, 3), dict(padding=2, dilation=2)),
    ((2, 3, 10, 9), (4, 3, 2, 3), dict(dilation=(2, 1), stride=(1, 2))),
    ((2, 4, 7, 8), (6, 2, 3, 3), dict(padding=1, groups=2)),
    ((2, 4, 7, 8), (4, 1, 3, 3), dict(padding=1, groups=4)),            # depthwise
    ((2, 3, 7, 8), (6, 1, 3, 3), dict(stride=2, groups=3)),             # depthwise, multiplier 2
    ((2, 3, 7, 8), (4, 3, 3, 3), dict(padding="same")),
    ((2, 3, 7, 8), (4, 3, 4, 4), dict(padding="same")),                 # even kernel: 1 + 2 zeros
    ((2, 3, 7, 8), (4, 3, 2, 3), dict(padding="same", dilation=(3, 2))),
    ((2, 3, 7, 8), (4, 3, 3, 3), dict(padding="valid")),
    ((1, 1, 28, 28), (6, 1, 5, 5), dict(padding=2)),                    # LeNet's first layer
    ((2, 16, 16, 16), (16, 16, 3, 3), dict(padding=1)),                 # Winograd (a ResNet conv)
    ((2, 8, 19, 15), (8, 8, 3, 3), dict(padding=1)),                    # Winograd, odd sizes
    ((4, 8, 12, 12), (8, 8, 3, 3), dict(padding=(0, 2))),               # Winograd
    ((2, 16, 8, 8), (16, 16, 3, 3), dict(padding=1)),                   # too small for Winograd
    # C_out <= C_in at stride 1: dL/dh as a convolution with flipped kernels (adjoint_as_conv)
    ((2, 6, 7, 8), (4, 6, 4, 4), dict(padding="same")),                 # pads (1, 2): 2, 1 after
    ((2, 5, 7, 8), (3, 5, 2, 3), dict(padding=(1, 0))),                 # non-square, no W pad
    ((2, 2, 7, 8), (2, 2, 3, 3), dict(padding=1)),                      # "cols" layout
    ((2, 4, 5, 5), (3, 4, 1, 1), dict(padding=1)),                      # pad > K - 1: col2im
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("xshape,wshape,kw", CONV_CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}"
                                                             for c in CONV_CASES])
def test_conv2d_matches_torch(xshape, wshape, kw, bias, dtype):
    torch = pytest.importorskip("torch")
    _against_torch(conv2d, torch.nn.functional.conv2d, xshape, wshape, bias, dtype, **kw)


@pytest.mark.parametrize("xshape,wshape,kw", [
    ((2, 3, 7, 8), (4, 3, 3, 3), dict(padding=1)),
    ((2, 4, 6, 6), (5, 4, 1, 1), {}),
    ((2, 16, 16, 16), (16, 16, 3, 3), dict(padding=1)),
    ((2, 4, 7, 8), (6, 2, 3, 3), dict(padding=1, groups=2)),
])
def test_conv2d_channels_last_input(xshape, wshape, kw):
    """An input that lies channels-last in memory (what conv2d itself returns) gives the same."""
    torch = pytest.importorskip("torch")
    _against_torch(conv2d, torch.nn.functional.conv2d, xshape, wshape, True, np.float64,
                   x_layout="channels_last", **kw)


def test_conv2d_chain_of_layers_matches_torch():
    """Two convs and a ReLU in a row: layouts handed from one to the next stay consistent."""
    torch = pytest.importorskip("torch")
    F = torch.nn.functional
    rng = np.random.default_rng(3)
    xa = rng.standard_normal((2, 3, 10, 10))
    w1, w2 = rng.standard_normal((8, 3, 3, 3)), rng.standard_normal((4, 8, 3, 3))
    x, a, b = (cr.tensor(v, requires_grad=True) for v in (xa, w1, w2))
    tx, ta, tb = (torch.tensor(v, requires_grad=True) for v in (xa, w1, w2))
    y = conv2d(conv2d(x, a, padding=1).relu(), b, stride=2)
    ty = F.conv2d(F.conv2d(tx, ta, padding=1).relu(), tb, stride=2)
    np.testing.assert_allclose(y.data, ty.detach().numpy(), rtol=1e-10, atol=1e-10)
    (y * y).sum().backward()
    (ty * ty).sum().backward()
    for ours, theirs in ((x, tx), (a, ta), (b, tb)):
        np.testing.assert_allclose(ours.grad.data, theirs.grad.numpy(), rtol=1e-9, atol=1e-9)


def test_conv2d_unbatched_and_no_grad():
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(1)
    xa, wa = rng.standard_normal((3, 6, 5)), rng.standard_normal((2, 3, 3, 3))
    y = conv2d(cr.tensor(xa), cr.tensor(wa), padding=1)
    ref = torch.nn.functional.conv2d(torch.tensor(xa), torch.tensor(wa), padding=1).numpy()
    assert y.shape == (2, 6, 5)
    np.testing.assert_allclose(y.data, ref, rtol=1e-10)
    with cr.no_grad():
        w = cr.tensor(wa, requires_grad=True)
        z = conv2d(cr.tensor(xa[None]), w)
    assert not z.requires_grad


def test_conv2d_grad_only_for_weight():
    """The input needs no gradient (a first layer): only dL/dW and dL/db are computed."""
    rng = np.random.default_rng(2)
    x = cr.tensor(rng.standard_normal((2, 1, 6, 6)))
    w = cr.tensor(rng.standard_normal((3, 1, 3, 3)), requires_grad=True)
    b = cr.tensor(rng.standard_normal(3), requires_grad=True)
    conv2d(x, w, b).sum().backward()
    assert x.grad is None
    # d(sum s)/dW^w_ij = sum over positions of the input patch; d/db^w = number of positions
    xa = x.data[:, 0]
    want = np.array([[xa[:, i:i + 4, j:j + 4].sum() for j in range(3)] for i in range(3)])
    np.testing.assert_allclose(w.grad.data, np.broadcast_to(want, (3, 1, 3, 3)), rtol=1e-12)
    np.testing.assert_allclose(b.grad.data, np.full(3, 2 * 4 * 4.0))


@pytest.fixture
def winograd_whenever_it_applies(monkeypatch):
    """Winograd for every shape it can take, however many threads (see winograd_applies)."""
    from chainrule.ops import conv_kernels

    monkeypatch.setattr(conv_kernels, "WINOGRAD_MIN_PATCH_BYTES", 0)


@pytest.mark.parametrize("cin", [1, 16])  # GEMM path and Winograd path
def test_conv2d_grads_without_input_grad(cin, winograd_whenever_it_applies):
    """A first layer: the input needs no gradient, the weight and bias do (and only they)."""
    torch = pytest.importorskip("torch")
    rng = np.random.default_rng(5)
    xa, wa, ba = (rng.standard_normal(s) for s in ((2, cin, 16, 16), (8, cin, 3, 3), (8,)))
    x, w, b = cr.tensor(xa), cr.tensor(wa, requires_grad=True), cr.tensor(ba, requires_grad=True)
    tw, tb = torch.tensor(wa, requires_grad=True), torch.tensor(ba, requires_grad=True)
    y = conv2d(x, w, b, padding=1)
    assert y._ctx.winograd == (cin == 16)
    (y ** 2).sum().backward()
    (torch.nn.functional.conv2d(torch.tensor(xa), tw, tb, padding=1) ** 2).sum().backward()
    assert x.grad is None
    np.testing.assert_allclose(w.grad.data, tw.grad.numpy(), rtol=1e-10)
    np.testing.assert_allclose(b.grad.data, tb.grad.numpy(), rtol=1e-10)
    w2 = cr.tensor(wa)  # and the input gradient alone
    x2 = cr.tensor(xa, requires_grad=True)
    tx2 = torch.tensor(xa, requires_grad=True)
    (conv2d(x2, w2, padding=1) ** 2).sum().backward()
    (torch.nn.functional.conv2d(tx2, torch.tensor(wa), padding=1) ** 2).sum().backward()
    np.testing.assert_allclose(x2.grad.data, tx2.grad.numpy(), rtol=1e-10)


@pytest.mark.parametrize("c,size,kw", [(4, (6, 5), dict(padding=1)),
                                       (4, (6, 5), dict(stride=2, dilation=2, padding=(2, 1))),
                                       (4, (6, 5), dict(groups=2, padding="same")),
                                       (8, (17, 16), dict(padding=1))])  # the Winograd path
def test_conv2d_gradcheck(c, size, kw, winograd_whenever_it_applies):
    x = cr.randn(2, c, *size, dtype=cr.float64, requires_grad=True)
    w = cr.randn(8, c // kw.get("groups", 1), 3, 3, dtype=cr.float64, requires_grad=True)
    b = cr.randn(8, dtype=cr.float64, requires_grad=True)
    assert conv2d(x, w, b, **kw)._ctx.winograd == (c == 8)
    assert gradcheck(lambda x, w, b: conv2d(x, w, b, **kw), [x, w, b])


# conv_transpose2d: weight (C_in, C_out/groups, KH, KW)
TRANSPOSE_CASES = [
    ((2, 4, 5, 6), (4, 3, 3, 3), {}),
    ((2, 4, 5, 6), (4, 3, 3, 3), dict(stride=2, padding=1, output_padding=1)),
    ((2, 4, 5, 5), (4, 2, 4, 4), dict(stride=2, padding=1)),            # the DCGAN upsampler
    ((2, 4, 5, 6), (4, 3, 1, 1), {}),
    ((2, 4, 5, 6), (4, 3, 1, 1), dict(stride=2, output_padding=1)),
    ((2, 4, 5, 6), (4, 3, 1, 1), dict(stride=2, dilation=3, output_padding=2)),
    ((2, 4, 5, 6), (4, 3, 3, 2), dict(stride=(2, 3), padding=(1, 0), output_padding=(0, 2))),
    ((2, 4, 5, 6), (4, 3, 3, 3), dict(groups=2, dilation=2, padding=2)),
    ((2, 4, 5, 6), (4, 1, 3, 3), dict(groups=4, stride=2, output_padding=1)),
    ((2, 3, 4, 4), (3, 2, 3, 3), dict(dilation=(2, 1), stride=(1, 2), output_padding=(1, 1))),
    ((1, 2, 1, 1), (2, 3, 4, 4), {}),                       # 1x1 -> 4x4 (a generator's first layer)
]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("xshape,wshape,kw", TRANSPOSE_CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}"
                                                                  for c in TRANSPOSE_CASES])
def test_conv_transpose2d_matches_torch(xshape, wshape, kw, bias, dtype):
    torch = pytest.importorskip("torch")
    _against_torch(conv_transpose2d, torch.nn.functional.conv_transpose2d, xshape, wshape, bias,
                   dtype, **kw)


@pytest.mark.parametrize("kw", [dict(stride=2, padding=1, output_padding=1),
                                dict(groups=2, dilation=(1, 2))])
def test_conv_transpose2d_gradcheck(kw):
    x = cr.randn(2, 4, 4, 3, dtype=cr.float64, requires_grad=True)
    w = cr.randn(4, 2, 3, 3, dtype=cr.float64, requires_grad=True)
    b = cr.randn(2 * kw.get("groups", 1), dtype=cr.float64, requires_grad=True)
    assert gradcheck(lambda x, w, b: conv_transpose2d(x, w, b, **kw), [x, w, b])


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    """<conv2d(x, W), y> = <x, conv_transpose2d(y, W)> for the same geometry (notes 2.1: the
    transposed convolution is dL/dh of the convolution)."""
    rng = np.random.default_rng(4)
    kw = dict(stride=2, padding=1, dilation=(1, 2), groups=2)
    x = cr.tensor(rng.standard_normal((2, 4, 9, 10)))
    w = cr.tensor(rng.standard_normal((6, 2, 3, 3)))
    s = conv2d(x, w, **kw)
    y = cr.tensor(rng.standard_normal(s.shape))
    op = tuple(x.shape[k] - ((s.shape[k] - 1) * 2 - 2 * 1 + (1, 2)[k - 2] * 2 + 1) for k in (2, 3))
    back = conv_transpose2d(y, w, output_padding=op, **kw)
    assert back.shape == x.shape
    np.testing.assert_allclose((s.data * y.data).sum(), (x.data * back.data).sum(), rtol=1e-12)


def test_conv2d_errors():
    x, w = cr.randn(8, 1, 28, 28), cr.randn(16, 3, 3, 3)
    with pytest.raises(ValueError, match=r"conv2d: expected input \(N, 3, H, W\) for a weight of "
                                         r"shape \(16, 3, 3, 3\) with groups=1, "
                                         r"got \(8, 1, 28, 28\)"):
        conv2d(x, w)
    with pytest.raises(ValueError, match=r"conv2d: expected input \(N, C, H, W\).*got \(28, 28\)"):
        conv2d(cr.randn(28, 28), w)
    with pytest.raises(ValueError, match=r"conv2d: expected a 4-D weight, got shape \(16, 3\)"):
        conv2d(cr.randn(1, 3, 5, 5), cr.randn(16, 3))
    with pytest.raises(ValueError, match=r"conv2d: expected bias of shape \(16,\), got \(3,\)"):
        conv2d(cr.randn(1, 3, 5, 5), w, cr.randn(3))
    with pytest.raises(ValueError, match=r"smaller than the kernel \(3, 3\)"):
        conv2d(cr.randn(1, 3, 2, 5), w)
    with pytest.raises(ValueError, match=r"smaller than the kernel \(3, 3\) dilated to \(5, 5\)"):
        conv2d(cr.randn(1, 3, 4, 8), w, dilation=2)
    with pytest.raises(ValueError, match=r"padding='same' is only supported with stride 1"):
        conv2d(cr.randn(1, 3, 5, 5), w, stride=2, padding="same")
    with pytest.raises(ValueError, match=r"conv2d: padding must be 'same', 'valid'"):
        conv2d(cr.randn(1, 3, 5, 5), w, padding="full")
    with pytest.raises(ValueError, match=r"conv2d: stride must be >= 1, got \(0, 0\)"):
        conv2d(cr.randn(1, 3, 5, 5), w, stride=0)
    with pytest.raises(TypeError, match=r"conv2d: dilation must be an int or a pair"):
        conv2d(cr.randn(1, 3, 5, 5), w, dilation=(1, 2, 3))
    with pytest.raises(ValueError, match=r"out_channels \(weight.shape\[0\]\) \(16\) must be "
                                         r"divisible by groups \(3\)"):
        conv2d(cr.randn(1, 3, 5, 5), cr.randn(16, 1, 3, 3), groups=3)
    with pytest.raises(TypeError, match=r"conv2d: input, weight and bias must have the same dtype"):
        conv2d(cr.randn(1, 3, 5, 5, dtype=cr.float64), w)
    with pytest.raises(TypeError, match=r"conv2d: expected a floating-point input"):
        conv2d(cr.zeros(1, 3, 5, 5, dtype=cr.int64), w)
    with pytest.raises(TypeError, match=r"conv2d: expected input to be a Tensor, got ndarray"):
        conv2d(np.zeros((1, 3, 5, 5), np.float32), w)


def test_conv_transpose2d_errors():
    w = cr.randn(4, 3, 3, 3)
    with pytest.raises(ValueError, match=r"conv_transpose2d: expected input \(N, 4, H, W\) for a "
                                         r"weight of shape \(4, 3, 3, 3\), got \(2, 3, 5, 5\)"):
        conv_transpose2d(cr.randn(2, 3, 5, 5), w)
    with pytest.raises(ValueError, match=r"output_padding \(2, 2\) must be smaller than the "
                                         r"stride"):
        conv_transpose2d(cr.randn(2, 4, 5, 5), w, stride=2, output_padding=2)
    with pytest.raises(ValueError, match=r"conv_transpose2d: the output size \(-1, -1\)"):
        conv_transpose2d(cr.randn(2, 4, 1, 1), w, padding=2)
    with pytest.raises(ValueError, match=r"conv_transpose2d: padding must be an int or a pair"):
        conv_transpose2d(cr.randn(2, 4, 5, 5), w, padding="same")
    with pytest.raises(ValueError, match=r"expected bias of shape \(6,\), got \(3,\)"):
        conv_transpose2d(cr.randn(2, 4, 5, 5), w, cr.randn(3), groups=2)


@pytest.fixture(params=["rows", "cols", "gemm-only"])
def forced_path(request, monkeypatch):
    """Run a test with every convolution on one code path: the "rows" or "cols" patch layout
    (instead of the per-shape choice), or with Winograd switched off."""
    from chainrule.ops import conv as conv_mod, conv_kernels

    if request.param == "gemm-only":
        monkeypatch.setattr(conv_mod, "winograd_applies", lambda *args: False)
    else:
        init = conv_kernels.ConvGeometry.__init__

        def forced(self, *args, **kwargs):
            init(self, *args, **kwargs)
            self.layout = request.param

        monkeypatch.setattr(conv_kernels.ConvGeometry, "__init__", forced)
    return request.param


@pytest.mark.parametrize("xshape,wshape,kw", CONV_CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}"
                                                             for c in CONV_CASES])
def test_conv2d_every_path_matches_torch(xshape, wshape, kw, forced_path):
    torch = pytest.importorskip("torch")
    _against_torch(conv2d, torch.nn.functional.conv2d, xshape, wshape, True, np.float64, **kw)


@pytest.mark.parametrize("xshape,wshape,kw", TRANSPOSE_CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}"
                                                                  for c in TRANSPOSE_CASES])
def test_conv_transpose2d_every_layout_matches_torch(xshape, wshape, kw, forced_path):
    torch = pytest.importorskip("torch")
    _against_torch(conv_transpose2d, torch.nn.functional.conv_transpose2d, xshape, wshape, True,
                   np.float64, **kw)


def test_paths_are_taken():
    """The shapes of the benchmarks take the paths meant for them."""
    from chainrule.ops.conv_kernels import ConvGeometry, winograd_applies

    lenet1 = ConvGeometry((128, 1, 28, 28), (6, 1, 5, 5), (2, 2, 2, 2), (1, 1), (1, 1), 1)
    lenet2 = ConvGeometry((128, 6, 14, 14), (16, 6, 5, 5), (0, 0, 0, 0), (1, 1), (1, 1), 1)
    one = ConvGeometry((8, 64, 7, 7), (32, 64, 1, 1), (0, 0, 0, 0), (2, 2), (1, 1), 1)
    assert (lenet1.layout, lenet2.layout, one.layout) == ("planes", "rows", "image")
    assert (lenet1.ho, lenet1.wo, lenet2.ho, lenet2.wo) == (28, 28, 10, 10)
    assert winograd_applies((3, 3), (1, 1), (1, 1), 1, 16, 16, 32 * 32 * 32)
    assert not winograd_applies((3, 3), (2, 2), (1, 1), 1, 16, 16, 32 * 16 * 16)
    assert not winograd_applies((3, 3), (1, 1), (1, 1), 2, 16, 16, 32 * 32 * 32)
    assert not winograd_applies((3, 3), (1, 1), (1, 1), 1, 16, 16, 2 * 8 * 8)
    # on 2 threads, im2col for the benchmark's ResNet stage, Winograd for ResNet-20's first stage
    assert not winograd_applies((3, 3), (1, 1), (1, 1), 1, 16, 16, 32 * 32 * 32, threads=2)
    assert winograd_applies((3, 3), (1, 1), (1, 1), 1, 16, 16, 128 * 28 * 28, threads=2)


@pytest.mark.parametrize("co, cin, k", [(1, 16, 3), (1, 2, 3), (4, 16, 3), (1, 16, 1)])
def test_grad_matrix_is_a_blas_operand_even_for_one_channel_and_broadcast_gradients(co, cin, k):
    """One output channel, or a broadcast dL/ds (from y.sum()), gave views with an odd or zero
    stride that NumPy's matmul ran through its slow non-BLAS loop; the operand must have a unit
    stride on its last axis and a positive stride on the others (and the same values)."""
    from chainrule.ops.conv_kernels import ConvGeometry, grad_matrix

    geo = ConvGeometry((3, cin, 6, 6), (co, cin, k, k), (0, 0, 0, 0), (1, 1), (1, 1), 1)
    full = np.random.default_rng(0).standard_normal((3, co, geo.ho, geo.wo)).astype(np.float32)
    for gs in (full, np.broadcast_to(np.float32(1.0), full.shape)):
        gm = grad_matrix(gs, geo)
        assert gm.strides[-1] == 4 and all(s > 0 for s in gm.strides[:-1]), (geo.layout,
                                                                              gm.strides)
        if geo.layout == "rows":
            expect = np.asarray(gs).transpose(0, 2, 3, 1).reshape(geo.m, co)
        elif geo.layout == "cols":
            expect = np.asarray(gs).transpose(1, 0, 2, 3).reshape(1, co, geo.m)
        else:
            expect = np.asarray(gs).reshape(3, co, geo.ho * geo.wo)
        np.testing.assert_array_equal(gm, expect)
