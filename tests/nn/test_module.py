"""Module: registration, traversal names (against torch), state_dict, modes, dtype, hooks, repr."""
import copy
import pickle
from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


class Block(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.layers = nn.ModuleList([nn.Linear(d, d), nn.Linear(d, d, bias=False)])
        self.register_buffer("scale", cr.ones(d))
        self.register_buffer("cache", cr.zeros(2), persistent=False)
        self.head = nn.Sequential(nn.Linear(d, 3), nn.ReLU(), nn.Linear(3, 2))

    def forward(self, x):
        for layer in self.layers:
            x = layer(x).relu()
        return self.head(x * self.scale)


def torch_block(torch, d):
    class TBlock(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.layers = torch.nn.ModuleList([torch.nn.Linear(d, d),
                                               torch.nn.Linear(d, d, bias=False)])
            self.register_buffer("scale", torch.ones(d))
            self.register_buffer("cache", torch.zeros(2), persistent=False)
            self.head = torch.nn.Sequential(torch.nn.Linear(d, 3), torch.nn.ReLU(),
                                            torch.nn.Linear(3, 2))
    return TBlock()


def test_registration_order_and_lookup():
    m = Block(4)
    assert [n for n, _ in m.named_children()] == ["layers", "head"]
    assert [n for n, _ in m.named_buffers()] == ["scale", "cache"]
    assert m.scale is m._buffers["scale"]
    assert isinstance(m.layers[0].weight, nn.Parameter)
    assert m.layers[1].bias is None
    with pytest.raises(AttributeError, match="'Block' object has no attribute 'nope'"):
        m.nope


def test_names_match_torch():
    torch = pytest.importorskip("torch")
    ours, theirs = Block(4), torch_block(torch, 4)
    pairs = lambda it: [(n, tuple(t.shape)) for n, t in it]
    assert pairs(ours.named_parameters()) == pairs(theirs.named_parameters())
    assert pairs(ours.named_buffers()) == pairs(theirs.named_buffers())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    sd, tsd = ours.state_dict(), theirs.state_dict()
    assert list(sd) == list(tsd)
    assert all(tuple(sd[k].shape) == tuple(tsd[k].shape) for k in sd)
    assert len(list(ours.parameters())) == len(list(theirs.parameters())) == 7
    assert len(list(ours.modules())) == len(list(theirs.modules()))


def test_repr_matches_torch():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Dropout(0.1),
                         nn.Sequential(nn.Linear(3, 2, bias=False), nn.Tanh()),
                         nn.LeakyReLU(0.2), nn.Flatten(), nn.Softmax(dim=1), nn.Identity())
    theirs = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Dropout(0.1),
                                 torch.nn.Sequential(torch.nn.Linear(3, 2, bias=False),
                                                     torch.nn.Tanh()),
                                 torch.nn.LeakyReLU(0.2), torch.nn.Flatten(),
                                 torch.nn.Softmax(dim=1), torch.nn.Identity())
    assert repr(ours) == repr(theirs)
    assert repr(Block(4)).startswith("Block(\n  (layers): ModuleList(\n    (0): Linear(")


def test_shared_parameter_listed_once():
    class Tied(nn.Module):
        def __init__(self):
            super().__init__()
            self.a = nn.Linear(3, 3)
            self.b = nn.Linear(3, 3)
            self.b.weight = self.a.weight
            self.again = self.a  # the same module twice
    m = Tied()
    names = [n for n, _ in m.named_parameters()]
    assert names == ["a.weight", "a.bias", "b.bias"]
    assert len(list(m.modules())) == 3
    assert len(list(m.named_parameters(remove_duplicate=False))) == 6


def test_forgetting_super_init_is_explained():
    class Bad(nn.Module):
        def __init__(self):
            self.fc = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"super\(\).__init__\(\)"):
        Bad()

    class Bad2(nn.Module):
        def __init__(self):
            self.k = 3

        def forward(self, x):
            return x

    with pytest.raises(RuntimeError, match=r"super\(\).__init__\(\)"):
        Bad2()(1)


def test_setattr_rules_and_delattr():
    m = nn.Linear(2, 3)
    with pytest.raises(TypeError, match="parameter 'weight'"):
        m.weight = cr.zeros(3, 2)
    m.bias = None
    assert m.bias is None and [n for n, _ in m.named_parameters()] == ["weight"]
    m.extra = nn.Parameter(cr.zeros(1))
    assert [n for n, _ in m.named_parameters()] == ["weight", "extra"]
    m.register_buffer("buf", cr.ones(2))
    with pytest.raises(TypeError, match="buffer 'buf'"):
        m.buf = 3
    m.buf = cr.zeros(2)
    assert float(m.buf.sum()) == 0
    del m.extra
    del m.buf
    assert [n for n, _ in m.named_parameters()] == ["weight"] and not list(m.buffers())
    with pytest.raises(KeyError, match="can't contain"):
        m.register_buffer("a.b", cr.ones(1))
    with pytest.raises(TypeError, match="Parameter or None"):
        m.register_parameter("w2", cr.ones(1))
    with pytest.raises(KeyError, match="already exists"):
        m.register_buffer("weight", cr.ones(1))
    m.plain = 5  # ordinary attributes still work
    assert m.plain == 5


def test_state_dict_round_trip_keeps_parameter_objects():
    cr.manual_seed(0)
    a, b = Block(4), Block(4)
    x = cr.randn(5, 4)
    sd = a.state_dict()
    assert list(sd) == ["scale", "layers.0.weight", "layers.0.bias", "layers.1.weight",
                        "head.0.weight", "head.0.bias", "head.2.weight", "head.2.bias"]
    assert not any(v.requires_grad for v in sd.values())
    params_before = [id(p) for p in b.parameters()]
    res = b.load_state_dict(sd)
    assert res.missing_keys == [] and res.unexpected_keys == []
    assert [id(p) for p in b.parameters()] == params_before
    np.testing.assert_array_equal(a(x).data, b(x).data)
    # numpy values and other dtypes are accepted (converted to the model's dtype)
    c = Block(4)
    c.load_state_dict({k: v.data.astype(np.float64) for k, v in sd.items()})
    assert c.layers[0].weight.dtype == np.float32
    np.testing.assert_allclose(c(x).data, a(x).data, rtol=1e-6)
    # loading copies values: the source model is not tied to the loaded one
    b.layers[0].weight.data[0, 0] = 123.0
    assert a.layers[0].weight.data[0, 0] != 123.0


def test_state_dict_order_params_then_buffers_per_module():
    torch = pytest.importorskip("torch")

    class WithBuf(nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("running", cr.zeros(3))
            self.fc = nn.Linear(3, 3)
            self.w = nn.Parameter(cr.zeros(3))

    class TWithBuf(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.register_buffer("running", torch.zeros(3))
            self.fc = torch.nn.Linear(3, 3)
            self.w = torch.nn.Parameter(torch.zeros(3))

    assert list(WithBuf().state_dict()) == list(TWithBuf().state_dict()) == [
        "w", "running", "fc.weight", "fc.bias"]


def test_load_state_dict_errors():
    class Net(nn.Module):
        def __init__(self, h):
            super().__init__()
            self.fc1 = nn.Linear(5, h)
            self.fc2 = nn.Linear(h, 2)

    small, big = Net(10), Net(20)
    sd = small.state_dict()
    before = big.fc2.bias.data.copy()
    with pytest.raises(RuntimeError) as e:
        big.load_state_dict(sd)
    msg = str(e.value)
    assert "Error(s) in loading state_dict for Net" in msg
    assert ("size mismatch for fc1.weight: copying a param with shape (10, 5) from checkpoint, "
            "the shape in current model is (20, 5)") in msg
    assert "size mismatch for fc2.weight" in msg and "fc2.bias" not in msg
    np.testing.assert_array_equal(big.fc2.bias.data, before)  # nothing copied on error

    sd2 = OrderedDict(sd)
    del sd2["fc1.bias"]
    sd2["fc3.weight"] = cr.zeros(2, 2)
    with pytest.raises(RuntimeError) as e:
        Net(10).load_state_dict(sd2)
    msg = str(e.value)
    assert 'Missing key(s) in state_dict: "fc1.bias".' in msg
    assert 'Unexpected key(s) in state_dict: "fc3.weight".' in msg

    m = Net(10)
    res = m.load_state_dict(sd2, strict=False)
    assert res.missing_keys == ["fc1.bias"] and res.unexpected_keys == ["fc3.weight"]
    np.testing.assert_array_equal(m.fc1.weight.data, small.fc1.weight.data)
    with pytest.raises(RuntimeError, match="size mismatch"):  # shapes are checked even then
        big.load_state_dict(sd, strict=False)


def test_non_persistent_buffer_not_saved():
    m = Block(3)
    assert "cache" not in m.state_dict() and "scale" in m.state_dict()
    assert "cache" in dict(m.named_buffers())


def test_train_eval_propagate():
    m = Block(3)
    assert all(x.training for x in m.modules())
    assert m.eval() is m
    assert not any(x.training for x in m.modules())
    m.head.train()
    assert m.head[1].training and not m.training
    m.train()
    assert all(x.training for x in m.modules())
    with pytest.raises(ValueError):
        m.train("no")


def test_zero_grad_apply_requires_grad():
    m = Block(3)
    m(cr.randn(2, 3)).sum().backward()
    assert all(p.grad is not None for p in m.parameters())
    m.zero_grad(set_to_none=False)
    assert all(p.grad is not None and not p.grad.data.any() for p in m.parameters())
    m.zero_grad()
    assert all(p.grad is None for p in m.parameters())

    seen = []
    assert m.apply(lambda mod: seen.append(type(mod).__name__)) is m
    assert seen[-1] == "Block" and seen.count("Linear") == 4
    assert seen.index("ModuleList") > seen.index("Linear")  # children before their parent

    m.requires_grad_(False)
    assert not any(p.requires_grad for p in m.parameters())
    m.head.requires_grad_()
    assert [n for n, p in m.named_parameters() if p.requires_grad] == [
        "head.0.weight", "head.0.bias", "head.2.weight", "head.2.bias"]


def test_to_double_keeps_objects_and_values():
    m = Block(3)
    x = cr.randn(4, 3)
    y32 = m(x).data
    m(x).sum().backward()
    ids = [id(p) for p in m.parameters()]
    assert m.double() is m
    assert [id(p) for p in m.parameters()] == ids
    assert all(p.dtype == np.float64 and p.grad.dtype == np.float64 for p in m.parameters())
    assert m.scale.dtype == np.float64
    np.testing.assert_allclose(m(x.double()).data, y32, rtol=1e-5, atol=1e-6)
    m.float()
    assert all(p.dtype == np.float32 for p in m.parameters())
    assert m.to("cpu") is m
    with pytest.raises(TypeError, match="floating-point"):
        m.to(cr.int64)


def test_forward_hooks():
    m = nn.Linear(2, 2)
    calls = []
    h1 = m.register_forward_pre_hook(lambda mod, args: (args[0] * 0,))
    h2 = m.register_forward_hook(lambda mod, args, out: calls.append(out.shape) or out + 1)
    y = m(cr.ones(3, 2))
    np.testing.assert_allclose(y.data, np.broadcast_to(m.bias.data + 1, (3, 2)), rtol=1e-6)
    assert calls == [(3, 2)]
    h1.remove()
    h2.remove()
    np.testing.assert_allclose(m(cr.ones(1, 2)).data,
                               (m.weight.data.sum(1) + m.bias.data)[None], rtol=1e-6)


def test_forward_missing():
    class NoForward(nn.Module):
        pass
    with pytest.raises(NotImplementedError, match="forward"):
        NoForward()(1)


def test_get_submodule_and_parameter():
    m = Block(3)
    assert m.get_submodule("head.2") is m.head[2]
    assert m.get_parameter("layers.0.bias") is m.layers[0].bias
    with pytest.raises(AttributeError, match="no submodule 'x'"):
        m.get_submodule("head.x")


def test_deepcopy_and_pickle():
    m = Block(3)
    x = cr.randn(2, 3)
    for m2 in (copy.deepcopy(m), pickle.loads(pickle.dumps(m))):
        np.testing.assert_array_equal(m2(x).data, m(x).data)
        m2.layers[0].weight.data[...] = 0
        assert m.layers[0].weight.data.any()
