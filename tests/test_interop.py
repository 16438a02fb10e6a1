"""Interoperability: DLPack exchange without copies (chainrule.from_dlpack, Tensor.__dlpack__) with
PyTorch, NumPy and JAX, and PyTorch weights saved with safetensors loaded into the chainrule
model of the same architecture (chainrule.load_safetensors) giving PyTorch's outputs."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.serialization import CorruptFileError

torch = pytest.importorskip("torch")
torch.set_num_threads(1)


# ---- DLPack: no copies -------------------------------------------------------------------------

DTYPES = [torch.float32, torch.float64, torch.float16, torch.int64, torch.int32, torch.uint8,
          torch.bool]


@pytest.mark.parametrize("dtype", DTYPES, ids=str)
def test_from_dlpack_of_a_torch_tensor_shares_memory(dtype):
    t = (torch.arange(12).reshape(3, 4) % 2 == 0) if dtype == torch.bool else \
        torch.arange(12).reshape(3, 4).to(dtype)
    x = cr.from_dlpack(t)
    assert isinstance(x, cr.Tensor) and x.shape == (3, 4) and not x.requires_grad
    assert str(x.dtype) == str(dtype).replace("torch.", "")
    np.testing.assert_array_equal(x.data, t.numpy())
    # write through chainrule, read in torch; then the other way round
    x.data[1, 2] = 0 if dtype == torch.bool else 99
    assert t[1, 2].item() == x.data[1, 2]
    t[0, 0] = True if dtype == torch.bool else 7
    assert x.data[0, 0] == t[0, 0].item()


@pytest.mark.parametrize("dtype", [cr.float32, cr.float64, cr.int64, cr.bool, cr.float16],
                         ids=lambda d: np.dtype(d).name)
def test_torch_from_dlpack_of_a_chainrule_tensor_shares_memory(dtype):
    x = cr.tensor(np.arange(6).reshape(2, 3) % 4, dtype=dtype)
    t = torch.from_dlpack(x)
    assert tuple(t.shape) == (2, 3) and str(t.dtype) == f"torch.{np.dtype(dtype)}".replace(
        "bool_", "bool")
    np.testing.assert_array_equal(t.numpy(), x.data)
    t[1, 1] = 1
    assert x.data[1, 1] == 1
    x.data[0, 2] = 0
    assert t[0, 2].item() == 0


def test_in_place_ops_and_optimizer_steps_show_through_a_torch_view():
    w = nn.Linear(3, 2).weight
    view = torch.from_dlpack(w)
    before = view.clone()
    w.grad = cr.ones(2, 3)
    cr.optim.SGD([w], lr=0.5).step()  # in place on w.data
    np.testing.assert_allclose(view.numpy(), before.numpy() - 0.5)


def test_numpy_from_dlpack_shares_memory_both_ways():
    x = cr.randn(4, 5)
    a = np.from_dlpack(x)
    assert np.shares_memory(a, x.data)
    y = cr.from_dlpack(a)
    assert np.shares_memory(y.data, a)
    arr = np.zeros((2, 2))
    z = cr.from_dlpack(arr)
    z.data[0, 1] = 3.0
    assert arr[0, 1] == 3.0


def test_round_trip_through_torch_keeps_one_buffer():
    x = cr.randn(3, 4)
    y = cr.from_dlpack(torch.from_dlpack(x))
    assert np.shares_memory(x.data, y.data)


@pytest.mark.parametrize("make", [lambda: torch.randn(4, 3).T, lambda: torch.randn(5, 6)[::2, 1:],
                                  lambda: torch.tensor(2.5), lambda: torch.zeros(0, 3)],
                         ids=["transposed", "strided", "0-d", "zero-size"])
def test_from_dlpack_keeps_strides_shape_and_values(make):
    t = make()
    x = cr.from_dlpack(t)
    assert x.shape == tuple(t.shape)
    np.testing.assert_array_equal(x.data, t.numpy())
    if t.numel():
        np.testing.assert_allclose((x * 2).data, (t * 2).numpy())  # usable in ops
        back = torch.from_dlpack(x)
        assert back.data_ptr() == t.data_ptr()


def test_a_chainrule_tensor_that_requires_grad_exports_its_values():
    x = cr.randn(3, requires_grad=True)
    t = torch.from_dlpack(x)
    assert not t.requires_grad
    np.testing.assert_array_equal(t.numpy(), x.data)
    (x * x).sum().backward()  # the graph is untouched
    np.testing.assert_allclose(x.grad.data, 2 * x.data)


def test_dlpack_device_is_the_cpu():
    assert tuple(int(v) for v in cr.randn(2).__dlpack_device__()) == (1, 0)


def test_from_dlpack_errors_name_what_came():
    with pytest.raises(TypeError, match="from_dlpack.*__dlpack__.*list"):
        cr.from_dlpack([1.0, 2.0])
    with pytest.raises(BufferError) as info:
        cr.from_dlpack(torch.ones(2, requires_grad=True))
    msg = str(info.value)
    assert "from_dlpack" in msg and "(2,)" in msg and "detach" in msg
    with pytest.raises(BufferError, match="bfloat16"):
        cr.from_dlpack(torch.ones(3, dtype=torch.bfloat16))


def test_jax_round_trip_without_copy():
    jax = pytest.importorskip("jax")
    x = cr.tensor(np.arange(6, dtype=np.float32).reshape(2, 3))
    j = jax.dlpack.from_dlpack(x)
    np.testing.assert_array_equal(np.asarray(j), x.data)
    y = cr.from_dlpack(j)
    np.testing.assert_array_equal(y.data, x.data)


# ---- PyTorch weights through safetensors -------------------------------------------------------

st_torch = pytest.importorskip("safetensors.torch")


def _transfer(torch_net, our_net, path):
    """Save torch's state dict with safetensors, load it into ours; both in eval mode."""
    torch_net.eval()
    our_net.eval()
    st_torch.save_file(torch_net.state_dict(), str(path))
    result = our_net.load_state_dict(cr.load_safetensors(path))
    assert not result.missing_keys and not result.unexpected_keys


def test_mlp_weights_from_torch(tmp_path):
    torch.manual_seed(0)
    theirs = torch.nn.Sequential(torch.nn.Linear(5, 16), torch.nn.Tanh(), torch.nn.Linear(16, 3))
    ours = nn.Sequential(nn.Linear(5, 16), nn.Tanh(), nn.Linear(16, 3))
    _transfer(theirs, ours, tmp_path / "mlp.safetensors")
    x = np.random.default_rng(0).standard_normal((7, 5)).astype(np.float32)
    with torch.no_grad():
        ref = theirs(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(ours(cr.tensor(x)).data, ref, rtol=1e-5, atol=1e-6)


class TorchLeNet5(torch.nn.Module):
    """LeNet-5 as chainrule.models.lenet5 builds it, with the same state_dict keys."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(
            torch.nn.Conv2d(1, 6, 5, padding=2), torch.nn.ReLU(), torch.nn.MaxPool2d(2, 2),
            torch.nn.Conv2d(6, 16, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2, 2))
        self.classifier = torch.nn.Sequential(
            torch.nn.Linear(400, 120), torch.nn.ReLU(), torch.nn.Linear(120, 84), torch.nn.ReLU(),
            torch.nn.Linear(84, 10))

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def test_lenet5_weights_from_torch(tmp_path):
    torch.manual_seed(1)
    theirs = TorchLeNet5()
    ours = cr.models.lenet5()
    _transfer(theirs, ours, tmp_path / "lenet5.safetensors")
    x = np.random.default_rng(1).standard_normal((3, 1, 28, 28)).astype(np.float32)
    with torch.no_grad():
        ref = theirs(torch.from_numpy(x)).numpy()
    with cr.no_grad():
        out = ours(cr.tensor(x)).data
    np.testing.assert_allclose(out, ref, rtol=1e-4, atol=1e-5)


def test_conv_batchnorm_net_weights_and_buffers_from_torch(tmp_path):
    """BatchNorm's running statistics and its int64 num_batches_tracked come along (eval mode
    uses the running statistics, so they must be right for the outputs to agree)."""
    torch.manual_seed(2)

    def build(lib):
        return lib.nn.Sequential(lib.nn.Conv2d(3, 4, 3, padding=1, bias=False),
                                 lib.nn.BatchNorm2d(4), lib.nn.ReLU(), lib.nn.Flatten(),
                                 lib.nn.Linear(4 * 6 * 6, 2))

    theirs = build(torch)
    with torch.no_grad():  # non-trivial running statistics
        theirs.train()
        for _ in range(3):
            theirs(torch.randn(8, 3, 6, 6) * 2 + 1)
    ours = build(cr)
    _transfer(theirs, ours, tmp_path / "bn.safetensors")
    assert ours[1].num_batches_tracked.item() == 3
    x = np.random.default_rng(2).standard_normal((2, 3, 6, 6)).astype(np.float32)
    with torch.no_grad():
        ref = theirs(torch.from_numpy(x)).numpy()
    with cr.no_grad():
        np.testing.assert_allclose(ours(cr.tensor(x)).data, ref, rtol=1e-4, atol=1e-5)


class TorchLSTMLM(torch.nn.Module):
    """Embedding -> 2-layer LSTM -> Linear: a small language model."""

    def __init__(self, vocab=11, emb=6, hidden=8):
        super().__init__()
        self.embed = torch.nn.Embedding(vocab, emb)
        self.lstm = torch.nn.LSTM(emb, hidden, num_layers=2, batch_first=True)
        self.head = torch.nn.Linear(hidden, vocab)

    def forward(self, tokens):
        h, (hn, cn) = self.lstm(self.embed(tokens))
        return self.head(h), hn, cn


class LSTMLM(nn.Module):
    def __init__(self, vocab=11, emb=6, hidden=8):
        super().__init__()
        self.embed = nn.Embedding(vocab, emb)
        self.lstm = nn.LSTM(emb, hidden, num_layers=2, batch_first=True)
        self.head = nn.Linear(hidden, vocab)

    def forward(self, tokens):
        h, (hn, cn) = self.lstm(self.embed(tokens))
        return self.head(h), hn, cn


def test_lstm_language_model_weights_from_torch(tmp_path):
    torch.manual_seed(3)
    theirs, ours = TorchLSTMLM(), LSTMLM()
    _transfer(theirs, ours, tmp_path / "lstm.safetensors")
    tokens = np.random.default_rng(3).integers(0, 11, (4, 9))
    with torch.no_grad():
        refs = theirs(torch.from_numpy(tokens))
    with cr.no_grad():
        outs = ours(cr.tensor(tokens))
    for name, o, r in zip(["logits", "h_n", "c_n"], outs, refs):
        np.testing.assert_allclose(o.data, r.numpy(), rtol=1e-5, atol=1e-6, err_msg=name)


def test_bidirectional_gru_weights_from_torch(tmp_path):
    torch.manual_seed(4)
    theirs = torch.nn.GRU(5, 7, bidirectional=True)
    ours = nn.GRU(5, 7, bidirectional=True)
    _transfer(theirs, ours, tmp_path / "gru.safetensors")
    x = np.random.default_rng(4).standard_normal((6, 2, 5)).astype(np.float32)
    with torch.no_grad():
        ref, ref_h = theirs(torch.from_numpy(x))
    with cr.no_grad():
        out, h = ours(cr.tensor(x))
    np.testing.assert_allclose(out.data, ref.numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(h.data, ref_h.numpy(), rtol=1e-5, atol=1e-6)


# ---- load_safetensors: dtypes, names, errors ---------------------------------------------------

def test_load_safetensors_keeps_names_dtypes_and_values(tmp_path):
    sd = {"w": torch.randn(3, 4), "w64": torch.randn(2, dtype=torch.float64),
          "half": torch.randn(5).half(), "idx": torch.arange(4), "i32": torch.arange(3).int(),
          "u8": torch.arange(3).to(torch.uint8), "mask": torch.tensor([True, False]),
          "scalar": torch.tensor(1.5), "empty": torch.zeros(0, 3)}
    path = tmp_path / "mixed.safetensors"
    st_torch.save_file(sd, str(path))
    got = cr.load_safetensors(path)
    assert set(got) == set(sd)
    for k, t in sd.items():
        assert isinstance(got[k], cr.Tensor) and got[k].shape == tuple(t.shape), k
        assert str(got[k].dtype) == str(t.dtype).replace("torch.", ""), k
        np.testing.assert_array_equal(got[k].data, t.numpy(), err_msg=k)
        assert got[k].data.flags.writeable and not got[k].requires_grad


def test_load_safetensors_widens_bfloat16_exactly(tmp_path):
    t = torch.randn(2, 3).to(torch.bfloat16)
    path = tmp_path / "bf16.safetensors"
    st_torch.save_file({"w": t}, str(path))
    w = cr.load_safetensors(path)["w"]
    assert w.dtype == np.float32
    np.testing.assert_array_equal(w.data, t.float().numpy())


def test_load_safetensors_of_a_file_chainrule_saved_gives_flat_names(tmp_path):
    path = tmp_path / "ckpt.safetensors"
    cr.save({"model": {"0.weight": cr.ones(2, 2)}, "step": 3}, path)
    got = cr.load_safetensors(path)
    assert list(got) == ["model/0.weight"]
    np.testing.assert_array_equal(got["model/0.weight"].data, np.ones((2, 2)))


def test_load_safetensors_into_another_architecture_lists_the_keys(tmp_path):
    path = tmp_path / "mlp.safetensors"
    st_torch.save_file(torch.nn.Sequential(torch.nn.Linear(4, 3)).state_dict(), str(path))
    with pytest.raises(RuntimeError) as info:
        nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)).load_state_dict(
            cr.load_safetensors(path))
    assert '"2.weight"' in str(info.value) and "Missing" in str(info.value)
    with pytest.raises(RuntimeError, match=r"size mismatch for 0.weight.*\(3, 4\).*\(5, 4\)"):
        nn.Sequential(nn.Linear(4, 5)).load_state_dict(cr.load_safetensors(path))


def test_load_safetensors_errors_name_the_file_and_tensor(tmp_path):
    path = tmp_path / "w.safetensors"
    st_torch.save_file({"weight": torch.randn(8, 8)}, str(path))
    data = path.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[:-10])
    with pytest.raises(CorruptFileError, match="cut.safetensors.*truncated"):
        cr.load_safetensors(cut)
    with pytest.raises(FileNotFoundError):
        cr.load_safetensors(tmp_path / "missing.safetensors")
    if hasattr(torch, "float8_e4m3fn"):
        f8 = tmp_path / "f8.safetensors"
        st_torch.save_file({"q": torch.zeros(2).to(torch.float8_e4m3fn)}, str(f8))
        with pytest.raises(TypeError, match="f8.safetensors.*'q'.*F8_E4M3"):
            cr.load_safetensors(f8)
