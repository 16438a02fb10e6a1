"""The device seam: every op takes its array module from its inputs, so tensors of another backend
flow through forward and backward. The "seam" backend (tests/backends/seam.py) follows CuPy's
rules on the CPU: an op that makes a host array next to a device one, or converts a device array
to the host implicitly, raises, and every result must still be a seam array.

Each case runs on the CPU and on "seam" from the same inputs: outputs and gradients must be seam
arrays equal to the NumPy ones.
"""
import numpy as np
import pytest

import chainrule as cr
from chainrule import backend, nn, optim
from tests.backends.seam import SeamArray
from tests.ops import registry as R


def _host(a):
    return a._a if type(a) is SeamArray else a


def _assert_seam_equal(dev_arr, host_arr, where, rtol=1e-12):
    assert type(dev_arr) is SeamArray, f"{where}: a {type(dev_arr).__name__}, not a seam array"
    assert dev_arr.dtype == host_arr.dtype, f"{where}: dtype {dev_arr.dtype} vs {host_arr.dtype}"
    np.testing.assert_allclose(_host(dev_arr), host_arr, rtol=rtol, atol=1e-12, err_msg=where)


def _run(op, sample, device):
    """Outputs and input gradients of one registry sample (float64) on ``device``."""
    arrays = R.sample_arrays(op, sample)
    xs = [cr.tensor(a, requires_grad=True, device=device) if a.dtype.kind == "f"
          else cr.tensor(a, device=device) for a in arrays]
    kw = R._map_arrays(sample.kwargs, lambda a: cr.tensor(a, device=device))
    outs = R._as_list(op.call(*xs, **kw))
    rng = np.random.default_rng(1)
    pairs = [(o, cr.tensor(rng.standard_normal(o.shape), dtype=o.dtype, device=device))
             for o in outs if o.requires_grad]
    if pairs:
        cr.autograd.backward([o for o, _ in pairs], [w for _, w in pairs])
    return outs, [x.grad for x in xs if x.requires_grad]


@pytest.mark.parametrize("op,sample", [p for fam in ("elementwise", "reduce", "softmax", "linalg",
                                                      "shape", "index")
                                       for p in R.sample_params(fam)])
def test_registry_op_forward_and_backward_on_the_seam_device(op, sample, seam_device):
    outs, grads = _run(op, sample, None)
    douts, dgrads = _run(op, sample, seam_device)
    assert len(douts) == len(outs)
    for k, (d, h) in enumerate(zip(douts, outs)):
        assert d.device == "seam" and d.requires_grad == h.requires_grad
        _assert_seam_equal(d.data, h.data, f"{sample} output {k}")
    for k, (d, h) in enumerate(zip(dgrads, grads)):
        if h is None:
            assert d is None, f"{sample} gradient {k}"
            continue
        _assert_seam_equal(d.data, h.data, f"{sample} gradient {k}")


# ---- layers: forward and backward of modules moved with Module.to("seam") --------------------

def _arr(shape, seed, kind="normal"):
    rng = np.random.default_rng(seed)
    if kind == "int":
        return rng.integers(0, shape[1], shape[0])
    return rng.standard_normal(shape).astype(np.float32)


def _layer_run(make, inputs, device, train=True, loss=None, extra=()):
    """Module output, input gradients, parameter gradients and buffers on ``device``."""
    cr.manual_seed(0)
    m = make()
    m.train(train)
    if device is not None:
        assert m.to(device) is m
    xs = [cr.tensor(a, requires_grad=a.dtype.kind == "f", device=device) for a in inputs]
    kw = {k: cr.tensor(v, device=device) for k, v in dict(extra).items()}
    out = m(*xs, **kw)
    outs = [o for o in (out if isinstance(out, tuple) else (out,)) for o in
            (o if isinstance(o, tuple) else (o,)) if o is not None]
    total = None
    for k, o in enumerate(outs):
        if o.dtype.kind != "f" or not o.requires_grad:
            continue
        w = cr.tensor(np.random.default_rng(10 + k).standard_normal(o.shape).astype(o.dtype),
                      device=device)
        term = (o * w).sum()
        total = term if total is None else total + term
    total.backward()
    grads = [x.grad for x in xs if x.requires_grad] + [p.grad for _, p in m.named_parameters()]
    buffers = [b for _, b in m.named_buffers() if b is not None]
    return outs, grads, buffers


def _compare_layer(make, inputs, seam_device, rtol=1e-5, **kw):
    outs, grads, bufs = _layer_run(make, inputs, None, **kw)
    douts, dgrads, dbufs = _layer_run(make, inputs, seam_device, **kw)
    assert len(douts) == len(outs) and len(dgrads) == len(grads) and len(dbufs) == len(bufs)
    for k, (d, h) in enumerate(zip(douts, outs)):
        assert d.device == "seam"
        _assert_seam_equal(d.data, h.data, f"output {k}", rtol)
    for k, (d, h) in enumerate(zip(dgrads, grads)):
        assert (d is None) == (h is None), f"gradient {k}"
        if h is not None:
            _assert_seam_equal(d.data, h.data, f"gradient {k}", rtol)
    for k, (d, h) in enumerate(zip(dbufs, bufs)):
        _assert_seam_equal(d.data, h.data, f"buffer {k}", rtol)


LAYERS = {
    "linear": (lambda: cr.nn.Linear(5, 4), [_arr((3, 5), 1)]),
    "linear_3d": (lambda: cr.nn.Linear(5, 4, bias=False), [_arr((2, 3, 5), 1)]),
    "conv2d": (lambda: cr.nn.Conv2d(3, 4, 3, padding=1), [_arr((2, 3, 6, 6), 2)]),
    "conv2d_strided_groups": (lambda: cr.nn.Conv2d(4, 6, 3, stride=2, groups=2, dilation=1),
                              [_arr((2, 4, 7, 7), 3)]),
    "conv2d_1x1": (lambda: cr.nn.Conv2d(3, 5, 1), [_arr((2, 3, 4, 4), 3)]),
    "conv2d_reflect": (lambda: cr.nn.Conv2d(2, 3, 3, padding=1, padding_mode="reflect"),
                       [_arr((1, 2, 5, 5), 4)]),
    # CPU: Winograd F(2x2, 3x3); seam: im2col (Winograd runs on NumPy only), the same sums
    "conv2d_winograd": (lambda: cr.nn.Conv2d(16, 16, 3, padding=1), [_arr((2, 16, 8, 8), 5)]),
    "conv_transpose2d": (lambda: cr.nn.ConvTranspose2d(3, 2, 3, stride=2, padding=1),
                         [_arr((2, 3, 4, 4), 6)]),
    "maxpool2d": (lambda: cr.nn.MaxPool2d(2), [_arr((2, 3, 6, 6), 7)]),
    "maxpool2d_overlap": (lambda: cr.nn.MaxPool2d(3, stride=2, padding=1),
                          [_arr((2, 3, 7, 7), 8)]),
    "avgpool2d": (lambda: cr.nn.AvgPool2d(3, stride=2, padding=1, count_include_pad=False),
                  [_arr((2, 3, 7, 7), 9)]),
    "adaptive_avgpool2d": (lambda: cr.nn.AdaptiveAvgPool2d((3, 2)), [_arr((2, 3, 7, 5), 10)]),
    "adaptive_avgpool2d_global": (lambda: cr.nn.AdaptiveAvgPool2d(1), [_arr((2, 3, 4, 4), 10)]),
    "adaptive_maxpool2d": (lambda: cr.nn.AdaptiveMaxPool2d((3, 2)), [_arr((2, 3, 7, 5), 11)]),
    "batchnorm2d": (lambda: cr.nn.BatchNorm2d(3), [_arr((4, 3, 5, 5), 12)]),
    "batchnorm1d": (lambda: cr.nn.BatchNorm1d(6), [_arr((8, 6), 12)]),
    "lrn": (lambda: cr.nn.LocalResponseNorm(3), [_arr((2, 5, 3, 3), 13)]),
    "lstm": (lambda: cr.nn.LSTM(5, 6, num_layers=2, bidirectional=True), [_arr((4, 3, 5), 14)]),
    "gru_batch_first": (lambda: cr.nn.GRU(5, 6, batch_first=True), [_arr((3, 4, 5), 15)]),
    "rnn_relu": (lambda: cr.nn.RNN(5, 6, nonlinearity="relu"), [_arr((4, 3, 5), 16)]),
    "lstm_cell": (lambda: cr.nn.LSTMCell(5, 6), [_arr((3, 5), 17)]),
    "gru_cell": (lambda: cr.nn.GRUCell(5, 6), [_arr((3, 5), 18)]),
    "additive_attention": (lambda: cr.nn.AdditiveAttention(4, 5, 6),
                           [_arr((2, 3, 4), 19), _arr((2, 5, 5), 20)]),
    "dot_product_attention": (lambda: cr.nn.ScaledDotProductAttention(),
                              [_arr((2, 3, 4), 21), _arr((2, 5, 4), 22), _arr((2, 5, 3), 23)]),
    "embedding": (lambda: cr.nn.Embedding(10, 4, padding_idx=0),
                  [np.array([[1, 0, 3], [3, 9, 1]], np.int64)]),
    "dropout": (lambda: cr.nn.Dropout(0.3), [_arr((4, 5), 24)]),
    "dropout2d": (lambda: cr.nn.Dropout2d(0.5), [_arr((2, 4, 3, 3), 25)]),
    "sequential_mlp": (lambda: cr.nn.Sequential(cr.nn.Linear(5, 8), cr.nn.ReLU(),
                                                cr.nn.Linear(8, 3), cr.nn.Tanh()),
                       [_arr((4, 5), 26)]),
}


@pytest.mark.parametrize("name", list(LAYERS))
def test_layer_forward_and_backward_on_the_seam_device(name, seam_device):
    make, inputs = LAYERS[name]
    rtol = 1e-4 if name == "conv2d_winograd" else 1e-5
    _compare_layer(make, inputs, seam_device, rtol=rtol)


def test_batchnorm_eval_mode_and_rnn_lengths_on_the_seam_device(seam_device):
    _compare_layer(lambda: cr.nn.BatchNorm2d(3), [_arr((4, 3, 5, 5), 30)], seam_device,
                   train=False)
    # lengths in any order: the sorted schedule's permutation and mask move to the device
    _compare_layer(lambda: cr.nn.LSTM(5, 6), [_arr((4, 3, 5), 31)], seam_device,
                   extra={"lengths": np.array([2, 4, 3])})
    _compare_layer(lambda: cr.nn.GRU(5, 6, bidirectional=True), [_arr((4, 3, 5), 32)],
                   seam_device, extra={"lengths": np.array([4, 1, 3])})


def test_attention_masks_on_the_seam_device(seam_device):
    mask = np.array([[True, True, False, True, False], [True, False, True, True, True]])
    _compare_layer(lambda: cr.nn.ScaledDotProductAttention(),
                   [_arr((2, 3, 4), 33), _arr((2, 5, 4), 34), _arr((2, 5, 3), 35)], seam_device,
                   extra={"mask": mask})
    _compare_layer(lambda: cr.nn.AdditiveAttention(4, 5, 6),
                   [_arr((2, 3, 4), 36), _arr((2, 5, 5), 37)], seam_device,
                   extra={"mask": mask})


class _Loss(cr.nn.Module):
    def __init__(self, crit, target):
        super().__init__()
        self.crit, self.target = crit, target

    def forward(self, x):
        t = self.target
        return self.crit(x, t.to(x.device))


LOSSES = {
    "cross_entropy": (lambda: cr.nn.CrossEntropyLoss(),
                      cr.tensor([1, 0, 3, 2]), _arr((4, 5), 40)),
    "cross_entropy_ignore_smooth_weight": (
        lambda: cr.nn.CrossEntropyLoss(weight=cr.tensor([1.0, 2.0, 0.5, 1.0, 1.5]),
                                       ignore_index=2, label_smoothing=0.1),
        cr.tensor([1, 2, 3, 2]), _arr((4, 5), 41)),
    "cross_entropy_probs_2d": (lambda: cr.nn.CrossEntropyLoss(reduction="sum"),
                               cr.tensor(np.full((2, 3, 2, 2), 1 / 3, np.float32)),
                               _arr((2, 3, 2, 2), 42)),
    "nll": (lambda: cr.nn.NLLLoss(reduction="none"), cr.tensor([0, 4, 1]), _arr((3, 5), 43)),
    "mse": (lambda: cr.nn.MSELoss(), cr.tensor(_arr((3, 4), 44)), _arr((3, 4), 45)),
    "l1": (lambda: cr.nn.L1Loss(), cr.tensor(_arr((3, 4), 46)), _arr((3, 4), 47)),
    "smooth_l1": (lambda: cr.nn.SmoothL1Loss(beta=0.5), cr.tensor(_arr((3, 4), 48)),
                  _arr((3, 4), 49)),
    "huber": (lambda: cr.nn.HuberLoss(delta=0.7), cr.tensor(_arr((3, 4), 50)), _arr((3, 4), 51)),
    "bce_with_logits": (lambda: cr.nn.BCEWithLogitsLoss(pos_weight=cr.tensor([1.0, 2.0, 0.5])),
                        cr.tensor((_arr((4, 3), 52) > 0).astype(np.float32)), _arr((4, 3), 53)),
    "kl_div": (lambda: cr.nn.KLDivLoss(reduction="batchmean", log_target=True),
               cr.tensor(_arr((3, 4), 54)), _arr((3, 4), 55)),
}


@pytest.mark.parametrize("name", list(LOSSES))
def test_loss_forward_and_backward_on_the_seam_device(name, seam_device):
    make, target, x = LOSSES[name]
    _compare_layer(lambda: _Loss(make(), target), [x], seam_device)


# ---- optimizers: the update rules run on the parameter's device ------------------------------

def _train(opt_make, device, steps=3, clip=None):
    cr.manual_seed(0)
    m = cr.nn.Sequential(cr.nn.Linear(5, 8), cr.nn.Tanh(), cr.nn.Linear(8, 3))
    if device is not None:
        m.to(device)
    opt = opt_make(m.parameters())
    x = cr.tensor(_arr((6, 5), 60), device=device)
    y = cr.tensor(np.array([0, 2, 1, 1, 0, 2]), device=device)
    norms = []
    for _ in range(steps):
        opt.zero_grad()
        cr.nn.functional.cross_entropy(m(x), y).backward()
        if clip is not None:
            norms.append(cr.nn.utils.clip_grad_norm_(m.parameters(), clip))
        opt.step()
    return m, opt, norms


OPTIMIZERS = {
    "sgd_momentum": lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1,
                                            weight_decay=1e-3),
    "sgd_nesterov": lambda ps: cr.optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "adam": lambda ps: cr.optim.Adam(ps, lr=0.01),
    "adam_amsgrad_maximize": lambda ps: cr.optim.Adam(ps, lr=0.01, amsgrad=True, maximize=True,
                                                      weight_decay=0.01),
    "adamw": lambda ps: cr.optim.AdamW(ps, lr=0.01),
    "rmsprop": lambda ps: cr.optim.RMSprop(ps, lr=0.01, momentum=0.5, centered=True),
    "adagrad": lambda ps: cr.optim.Adagrad(ps, lr=0.1),
    "adadelta": lambda ps: cr.optim.Adadelta(ps),
}


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_optimizer_steps_on_the_seam_device(name, seam_device):
    m, opt, _ = _train(OPTIMIZERS[name], None)
    dm, dopt, _ = _train(OPTIMIZERS[name], seam_device)
    for (k, p), (_, dp) in zip(m.named_parameters(), dm.named_parameters()):
        _assert_seam_equal(dp.data, p.data, f"{name}: parameter {k}", rtol=1e-5)
    for p, dp in zip(m.parameters(), dm.parameters()):  # the state stays on the device
        for key, v in opt.state[p].items():
            dv = dopt.state[dp][key]
            if isinstance(v, np.ndarray):
                _assert_seam_equal(dv, v, f"{name}: state {key}", rtol=1e-5)
    # a checkpoint of the state loads back onto the device
    sd = dopt.state_dict()
    fresh = OPTIMIZERS[name](dm.parameters())
    fresh.load_state_dict(sd)
    for dp in dm.parameters():
        for key, v in fresh.state[dp].items():
            if key != "step":
                assert type(v) is SeamArray, f"{name}: loaded state {key} is {type(v).__name__}"


def test_clip_grad_norm_on_the_seam_device(seam_device):
    _, _, norms = _train(OPTIMIZERS["sgd_momentum"], None, clip=0.5)
    _, _, dnorms = _train(OPTIMIZERS["sgd_momentum"], seam_device, clip=0.5)
    for n, d in zip(norms, dnorms):
        _assert_seam_equal(d.data, n.data, "total norm", rtol=1e-6)
    g = cr.tensor([[3.0, -4.0]], device=seam_device)
    p = cr.nn.Parameter(cr.zeros(1, 2, device=seam_device))
    p.grad = g
    cr.nn.utils.clip_grad_value_([p], 1.0)
    assert type(p.grad.data) is SeamArray and p.grad.tolist() == [[1.0, -1.0]]
    p.grad = cr.tensor([[3.0, -4.0]], device=seam_device)
    assert cr.nn.utils.clip_grad_norm_([p], 1.0, norm_type=float("inf")).item() == 4.0


# ---- devices, .to, creation ops ---------------------------------------------------------------

def test_tensor_to_device_and_back_is_differentiable(seam_device):
    x = cr.tensor([1.5, -2.0, 3.0], requires_grad=True)
    d = x.to(seam_device)
    assert d.device == "seam" and str(d.device) == "seam:0" and type(d.data) is SeamArray
    assert d.to("seam") is d and d.to(cr.device("seam:0")) is d
    y = (d * d).sum()
    assert y.device == "seam"
    y.backward()
    assert x.grad.device == "cpu" and x.grad.tolist() == [3.0, -4.0, 6.0]
    back = d.cpu()
    assert back.device == "cpu" and type(back.data) is np.ndarray
    np.testing.assert_array_equal(back.numpy(), x.numpy())
    z = d.to("cpu", cr.float64)
    assert z.dtype == np.float64 and z.device == "cpu"
    w = x.to(seam_device, cr.float64)
    assert w.dtype == np.float64 and w.device == "seam"
    assert x.to(d).device == "seam"  # to(other): other's device and dtype
    assert "device='seam:0'" in repr(d)


def test_numpy_of_a_device_tensor_raises_call_cpu_first(seam_device):
    d = cr.ones(2, 3, device=seam_device)
    with pytest.raises(TypeError, match=r"numpy\(\): .*device seam:0; call \.cpu\(\) first"):
        d.numpy()
    with pytest.raises(TypeError, match=r"call \.cpu\(\) first"):
        np.asarray(d)
    assert d.tolist() == [[1.0] * 3] * 2 and d.sum().item() == 6.0


def test_creation_ops_take_device(seam_device):
    cr.manual_seed(3)
    host = [cr.rand(2, 3), cr.randn(4), cr.randint(0, 5, (3,)), cr.randperm(5)]
    cr.manual_seed(3)
    dev = [cr.rand(2, 3, device=seam_device), cr.randn(4, device=seam_device),
           cr.randint(0, 5, (3,), device=seam_device), cr.randperm(5, device=seam_device)]
    for h, d in zip(host, dev):  # drawn on the host generator: the same values on every device
        _assert_seam_equal(d.data, h.data, "random creation op", rtol=0)
    made = [cr.zeros(2, 3, device=seam_device), cr.ones(2, device=seam_device),
            cr.empty(2, device=seam_device), cr.full((2, 2), 7, device=seam_device),
            cr.arange(5, device=seam_device), cr.linspace(0, 1, 5, device=seam_device),
            cr.eye(3, device=seam_device), cr.tensor([[1, 2]], device=seam_device),
            cr.as_tensor(np.ones(3), device=seam_device)]
    assert all(type(t.data) is SeamArray and t.device == "seam" for t in made)
    base = cr.ones(2, 2, device=seam_device)
    likes = [cr.zeros_like(base), cr.ones_like(base), cr.empty_like(base), cr.rand_like(base),
             cr.randn_like(base), cr.full_like(base, 2.0)]
    assert all(t.device == "seam" for t in likes)  # *_like keep the device, as PyTorch
    assert cr.zeros_like(base, device="cpu").device == "cpu"
    t = cr.tensor(base)  # a device tensor copied stays there
    assert t.device == "seam" and t.data is not base.data


def test_inplace_ops_and_indexing_on_a_device_tensor(seam_device):
    d = cr.zeros(2, 3, device=seam_device)
    d += 1.0
    d.mul_(3.0).add_(cr.ones(2, 3, device=seam_device), alpha=2)
    d[0, 1] = 0.0
    d[1] = cr.tensor([1.0, 2.0, 3.0])  # CPU values are copied onto the device
    d.copy_(d.clamp(0.0, 4.0))
    assert type(d.data) is SeamArray and d.tolist() == [[4.0, 0.0, 4.0], [1.0, 2.0, 3.0]]
    assert d[cr.tensor([1, 0])].tolist() == [[1.0, 2.0, 3.0], [4.0, 0.0, 4.0]]
    assert d[[0, 0], [2, 0]].tolist() == [4.0, 4.0] and type(d[[0], 1].data) is SeamArray
    assert d.argmax().item() == 0 and type(d.argmax().data) is SeamArray
    assert (d > 2).any().item() and cr.equal(d, d.clone()) and cr.allclose(d, d + 1e-9)
    d.uniform_(0, 1).normal_()
    assert type(d.data) is SeamArray
    with pytest.raises(RuntimeError, match="one device"):
        d + cr.ones(2, 3)  # a CPU tensor with dims next to a device one


def test_module_to_device_moves_parameters_and_buffers_in_place(seam_device):
    m = cr.nn.Sequential(cr.nn.Conv2d(1, 2, 3), cr.nn.BatchNorm2d(2))
    params = list(m.parameters())
    assert m.to(seam_device) is m and list(m.parameters()) == params
    assert all(type(p.data) is SeamArray for p in m.parameters())
    assert all(type(b.data) is SeamArray for _, b in m.named_buffers())
    sd = m.state_dict()
    m2 = cr.nn.Sequential(cr.nn.Conv2d(1, 2, 3), cr.nn.BatchNorm2d(2)).to(seam_device)
    m2.load_state_dict(sd)  # device values into a device module
    cpu = cr.nn.Sequential(cr.nn.Conv2d(1, 2, 3), cr.nn.BatchNorm2d(2))
    cpu.load_state_dict(sd)  # ... and into a CPU one
    assert all(type(p.data) is np.ndarray for p in cpu.parameters())
    assert m.cpu() is m and all(type(p.data) is np.ndarray for p in m.parameters())
    m.to(seam_device).double()
    assert all(p.dtype == np.float64 and type(p.data) is SeamArray for p in m.parameters())


def test_a_kernel_that_makes_a_host_array_fails_on_the_seam_device(seam_device):
    """The seam catches a missing dispatch: a kernel that builds a NumPy array next to its input
    (what ``np.zeros`` in place of ``xp.zeros`` does) raises, naming the function."""
    from chainrule.autograd.function import Function

    class HostZeros(Function):
        def forward(self, a):
            return a + np.zeros(a.shape, a.dtype)  # the bug: a host array

    assert HostZeros.apply(cr.ones(3)).tolist() == [1.0] * 3  # fine on the CPU
    with pytest.raises(TypeError, match="numpy.add got a host numpy.ndarray"):
        HostZeros.apply(cr.ones(3, device=seam_device))


def test_get_array_module_and_devices(seam_device):
    from tests.backends.seam import xp as seam_xp

    a, s = np.ones(3), cr.ones(3, device=seam_device).data
    assert backend.get_array_module(a, a, None, 2.0) is np
    assert backend.get_array_module(s, 1.0, np.float32(2)) is seam_xp
    assert backend.get_array_module(s, np.ones(())) is seam_xp  # 0-d host arrays may mix
    with pytest.raises(RuntimeError, match=r"host \(cpu\) array of shape \(3,\).*'seam'"):
        backend.get_array_module(s, a)
    assert cr.device("cpu") == "cpu" and cr.device("cuda") == "cuda:0"
    assert cr.device("seam:0") == cr.device("seam") and repr(cr.device("cuda:1")) == \
        "device(type='cuda', index=1)"
    assert "seam" in backend.backends()
    with pytest.raises(ValueError, match="expected one of 'cpu', 'cuda', 'seam'.*got 'tpu'"):
        cr.device("tpu")
    with pytest.raises(RuntimeError, match=r"device 'seam:1': index out of range"):
        cr.ones(2).to("seam:1")


# ---- CUDA: clear errors without CuPy, and the real thing when it is there --------------------

def test_cuda_missing_gives_a_clear_error():
    if cr.cuda.is_available():
        pytest.skip("a GPU is available here")
    assert cr.cuda.device_count() == 0
    x = cr.ones(2)
    for call in (lambda: x.to("cuda"), lambda: x.cuda(), lambda: x.to("cuda:1"),
                 lambda: cr.zeros(2, device="cuda"), lambda: cr.nn.Linear(2, 2).cuda()):
        with pytest.raises(RuntimeError, match=r"chainrule\.cuda is not available: install cupy"):
            call()
    assert x.device == "cpu" and x.cpu() is x and not x.is_cuda


def test_cupy_backend_runs_an_op_and_its_backward():
    cp = pytest.importorskip("cupy")
    if not cr.cuda.is_available():
        pytest.skip("CuPy is installed but sees no GPU")
    x = cr.randn(4, 5, requires_grad=True)
    w = cr.randn(3, 5, requires_grad=True)
    y = cr.nn.functional.linear(x.cuda(), w.cuda()).relu().sum()
    assert isinstance(y.data, cp.ndarray) and y.device == "cuda:0"
    y.backward()
    ref_x, ref_w = x.grad.numpy().copy(), w.grad.numpy().copy()
    x.grad = w.grad = None
    cr.nn.functional.linear(x, w).relu().sum().backward()
    np.testing.assert_allclose(ref_x, x.grad.numpy(), rtol=1e-5)
    np.testing.assert_allclose(ref_w, w.grad.numpy(), rtol=1e-5)


# ---- nn.functional, nn.generative, nn.init on a device --------------------------------------

def _fn_case(fn, arrays, device):
    ts = [cr.tensor(a, requires_grad=a.dtype.kind == "f", device=device) for a in arrays]
    cr.manual_seed(5)
    out = fn(*ts)
    outs = list(out) if isinstance(out, tuple) else [out]
    total = sum((o * (k + 1.5)).sum() for k, o in enumerate(outs) if o.requires_grad)
    total.backward()
    return outs, [t.grad for t in ts if t.requires_grad]


F = cr.nn.functional
GEN = {
    "gaussian_kl": (lambda mu, lv: F.gaussian_kl(mu, lv), [_arr((4, 3), 70), _arr((4, 3), 71)]),
    "gaussian_kl_two": (lambda m1, l1, m2, l2: F.gaussian_kl(m1, l1, m2, l2, reduction="mean"),
                        [_arr((4, 3), 72), _arr((4, 3), 73), _arr((4, 3), 74), _arr((4, 3), 75)]),
    "bernoulli_ll": (lambda lg: F.bernoulli_log_likelihood(
        lg, cr.tensor((_arr((4, 6), 76) > 0).astype(np.float32), device=lg.device)),
        [_arr((4, 6), 77)]),
    "gaussian_ll": (lambda x, mu, lv: F.gaussian_log_likelihood(x, mu, lv),
                    [_arr((4, 3), 78), _arr((4, 3), 79), _arr((4, 3), 80)]),
    "elbo_iw": (lambda lp, lq: (F.elbo(lp, lq), F.importance_weighted_log_likelihood(lp, lq)),
                [_arr((5, 4), 81), _arr((5, 4), 82)]),
    "sample_diag_gaussian": (lambda mu, lv: F.sample_diag_gaussian(mu, lv, K=3),
                             [_arr((4, 3), 83), _arr((4, 3), 84)]),
    "gan_losses": (lambda r, f: (F.gan_discriminator_loss(r, f), F.gan_generator_loss(f),
                                 F.gan_value(r, f)), [_arr((6, 1), 85), _arr((6, 1), 86)]),
    "softmax_logsoftmax": (lambda x: (F.softmax(x, dim=1), F.log_softmax(x, dim=-1)),
                           [_arr((3, 5), 87)]),
    "dropout_functional": (lambda x: F.dropout(x, 0.4, training=True), [_arr((5, 4), 88)]),
    "causal_attention_dropout": (
        lambda q, k, v: (F.scaled_dot_product_attention(q, k, v, is_causal=True),
                         F.scaled_dot_product_attention(q, k, v, dropout_p=0.3)),
        [_arr((2, 4, 3), 91), _arr((2, 4, 3), 92), _arr((2, 4, 5), 93)]),
    "pad_reflect_conv": (lambda x, w: F.conv2d(F.pad(x, (1, 1, 2, 0)), w, stride=2),
                         [_arr((2, 2, 5, 5), 89), _arr((3, 2, 3, 3), 90)]),
}


@pytest.mark.parametrize("name", list(GEN))
def test_functional_and_generative_on_the_seam_device(name, seam_device):
    fn, arrays = GEN[name]
    outs, grads = _fn_case(fn, arrays, None)
    douts, dgrads = _fn_case(fn, arrays, seam_device)
    for k, (d, h) in enumerate(zip(douts, outs)):
        _assert_seam_equal(d.data, h.data, f"{name} output {k}", rtol=1e-5)
    for k, (d, h) in enumerate(zip(dgrads, grads)):
        _assert_seam_equal(d.data, h.data, f"{name} gradient {k}", rtol=1e-5)


def test_one_hot_embedding_and_init_on_the_seam_device(seam_device):
    idx = cr.tensor([0, 2, 1], device=seam_device)
    oh = F.one_hot(idx, 3)
    assert type(oh.data) is SeamArray and oh.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    w = cr.randn(4, 2, device=seam_device)
    assert type(F.embedding(idx, w).data) is SeamArray
    inits = [lambda t: cr.nn.init.uniform_(t), lambda t: cr.nn.init.normal_(t),
             lambda t: cr.nn.init.kaiming_uniform_(t), lambda t: cr.nn.init.xavier_normal_(t),
             lambda t: cr.nn.init.trunc_normal_(t), lambda t: cr.nn.init.orthogonal_(t),
             lambda t: cr.nn.init.eye_(t), lambda t: cr.nn.init.zeros_(t)]
    for k, init in enumerate(inits):
        cr.manual_seed(k)
        h = init(cr.empty(3, 4))
        cr.manual_seed(k)
        d = init(cr.empty(3, 4, device=seam_device))
        _assert_seam_equal(d.data, h.data, f"init {k}", rtol=0)  # host draws: the same values


def test_lenet5_and_a_resnet_block_train_on_the_seam_device(seam_device):
    from chainrule.models.lenet import LeNet5
    from chainrule.models.resnet import BasicBlock

    def step(make, x, y, device):
        cr.manual_seed(0)
        m = make().to(device) if device else make()
        opt = cr.optim.SGD(m.parameters(), lr=0.05, momentum=0.9)
        for _ in range(2):
            opt.zero_grad()
            out = m(cr.tensor(x, device=device))
            loss = F.cross_entropy(out.flatten(1)[:, :10], cr.tensor(y, device=device))
            loss.backward()
            opt.step()
        return loss, [p.data for p in m.parameters()]

    y = np.array([1, 0, 3, 9])
    for make, x in ((LeNet5, _arr((4, 1, 28, 28), 95)),
                    (lambda: BasicBlock(4, 4), _arr((4, 4, 6, 6), 96))):
        loss, ps = step(make, x, y, None)
        dloss, dps = step(make, x, y, seam_device)
        _assert_seam_equal(dloss.data, loss.data, "loss", rtol=1e-5)
        for k, (d, h) in enumerate(zip(dps, ps)):
            _assert_seam_equal(d, h, f"parameter {k}", rtol=1e-4)


def test_put_along_axis_and_index_grids_without_the_numpy_functions(seam_device):
    """CuPy has no ``indices(sparse=True)`` (and older CuPy no put_along_axis): the fallbacks."""
    import types

    from tests.backends.seam import xp as seam_xp

    bare = types.SimpleNamespace(arange=seam_xp.arange)  # a module with neither function
    a = np.zeros((3, 4))
    idx = np.array([[1], [3], [0]])
    np.put_along_axis(a, idx, 2.0, axis=1)
    d = cr.zeros(3, 4, dtype=cr.float64, device=seam_device).data
    backend.put_along_axis(bare, d, cr.tensor(idx, device=seam_device).data, 2.0, -1)
    _assert_seam_equal(d, a, "put_along_axis", rtol=0)
    for h, g in zip(np.indices((2, 3, 1), sparse=True), backend.index_grids(bare, (2, 3, 1))):
        _assert_seam_equal(g, h, "index grid", rtol=0)


def test_layers_made_with_device_live_there(seam_device):
    for make in (lambda d: cr.nn.Linear(3, 2, device=d), lambda d: cr.nn.GRUCell(3, 2, device=d),
                 lambda d: cr.nn.AdditiveAttention(3, 3, 4, device=d)):
        cr.manual_seed(1)
        host = make(None)
        cr.manual_seed(1)
        dev = make(seam_device)
        for p, dp in zip(host.parameters(), dev.parameters()):
            _assert_seam_equal(dp.data, p.data, "parameter", rtol=0)


def test_save_and_checkpoint_of_a_device_model_and_optimizer_load_on_the_cpu(seam_device,
                                                                               tmp_path):
    """cr.save writes a device model's weights and an optimizer's device state as host arrays."""
    cr.manual_seed(0)
    model = nn.Linear(3, 2)
    model.to(seam_device)
    opt = optim.Adam(model.parameters(), lr=0.1)
    x = cr.randn(4, 3).to(seam_device)
    model(x).sum().backward()
    opt.step()
    path = tmp_path / "m.ckpt"
    cr.save({"model": model.state_dict(), "optimizer": opt.state_dict()}, path)
    back = cr.load(path)
    for k, v in model.state_dict().items():
        assert type(back["model"][k].data) is np.ndarray
        np.testing.assert_array_equal(back["model"][k].numpy(), v.cpu().numpy())
    cpu_model = nn.Linear(3, 2)
    cpu_model.load_state_dict(back["model"])
    np.testing.assert_array_equal(cpu_model.weight.numpy(), model.weight.cpu().numpy())
    cpu_opt = optim.Adam(cpu_model.parameters(), lr=0.1)
    cpu_opt.load_state_dict(back["optimizer"])
