"""Sequential, ModuleList, ModuleDict: registration, indexing, mutation, forward."""
from collections import OrderedDict

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn


def test_sequential_forward_and_indexing():
    cr.manual_seed(0)
    a, r, b = nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2)
    seq = nn.Sequential(a, r, b)
    x = cr.randn(5, 4)
    np.testing.assert_allclose(seq(x).data, b(r(a(x))).data, rtol=1e-6)
    assert len(seq) == 3 and list(seq) == [a, r, b]
    assert seq[0] is a and seq[-1] is b and seq[-3] is a
    tail = seq[1:]
    assert isinstance(tail, nn.Sequential) and list(tail) == [r, b]
    assert [n for n, _ in tail.named_children()] == ["1", "2"]  # names kept, as PyTorch
    with pytest.raises(IndexError, match="out of range"):
        seq[3]
    with pytest.raises(TypeError, match="integers or slices"):
        seq["0"]


def test_sequential_from_ordered_dict_and_mutation():
    seq = nn.Sequential(OrderedDict([("fc", nn.Linear(2, 2)), ("act", nn.Tanh())]))
    assert [n for n, _ in seq.named_parameters()] == ["fc.weight", "fc.bias"]
    assert seq.fc is seq[0]
    s = nn.Sequential(nn.Linear(2, 2))
    assert s.append(nn.ReLU()) is s and isinstance(s[1], nn.ReLU)
    s.insert(1, nn.Sigmoid())
    assert [type(m).__name__ for m in s] == ["Linear", "Sigmoid", "ReLU"]
    assert [n for n, _ in s.named_children()] == ["0", "1", "2"]
    s.insert(-1, nn.Tanh())
    assert [type(m).__name__ for m in s] == ["Linear", "Sigmoid", "Tanh", "ReLU"]
    del s[1]
    assert [n for n, _ in s.named_children()] == ["0", "1", "2"]
    assert isinstance(s.pop(), nn.ReLU) and len(s) == 2
    s[1] = nn.Identity()
    assert isinstance(s[1], nn.Identity)
    s.extend([nn.ReLU(), nn.ReLU()])
    assert len(s) == 4


def test_sequential_matches_torch_names():
    torch = pytest.importorskip("torch")
    ours = nn.Sequential(nn.Linear(3, 4), nn.ReLU(), nn.Sequential(nn.Linear(4, 4), nn.ReLU()),
                         nn.Linear(4, 1))
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(),
                                 torch.nn.Sequential(torch.nn.Linear(4, 4), torch.nn.ReLU()),
                                 torch.nn.Linear(4, 1))
    assert [n for n, _ in ours.named_parameters()] == [n for n, _ in theirs.named_parameters()]
    # with the same weights the outputs agree
    ours.load_state_dict({k: v.numpy() for k, v in theirs.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((6, 3)).astype(np.float32)
    np.testing.assert_allclose(ours(cr.tensor(x)).data,
                               theirs(torch.from_numpy(x)).detach().numpy(), rtol=1e-4, atol=1e-6)


def test_module_list():
    layers = nn.ModuleList([nn.Linear(2, 2) for _ in range(2)])
    assert len(layers) == 2
    a = nn.Linear(2, 3)
    assert layers.append(a) is layers
    layers.extend([nn.ReLU(), nn.Tanh()])
    assert [type(m).__name__ for m in layers] == ["Linear", "Linear", "Linear", "ReLU", "Tanh"]
    layers.insert(0, nn.Sigmoid())
    assert type(layers[0]).__name__ == "Sigmoid" and layers[3] is a
    assert layers.index(a) == 3
    with pytest.raises(ValueError, match="not in the list"):
        layers.index(nn.ReLU())
    assert [n for n, _ in layers.named_children()] == [str(i) for i in range(6)]
    del layers[0]
    assert layers[2] is a and [n for n, _ in layers.named_children()] == [str(i) for i in range(5)]
    assert isinstance(layers[1:3], nn.ModuleList) and len(layers[1:3]) == 2
    assert layers[-1] is layers[4]
    assert len(list(layers.parameters())) == 6
    layers += [nn.ReLU()]
    assert len(layers) == 6
    with pytest.raises(TypeError, match="append"):
        layers.extend(nn.Linear(1, 1))
    with pytest.raises(NotImplementedError):
        layers(cr.ones(1))


def test_module_list_in_custom_module_is_registered():
    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.blocks = nn.ModuleList(nn.Linear(3, 3) for _ in range(3))

        def forward(self, x):
            for b in self.blocks:
                x = b(x)
            return x
    net = Net()
    assert [n for n, _ in net.named_parameters()][-1] == "blocks.2.bias"
    net(cr.randn(2, 3)).sum().backward()
    assert all(p.grad is not None for p in net.parameters())


def test_module_dict():
    d = nn.ModuleDict({"a": nn.Linear(2, 2), "b": nn.ReLU()})
    assert list(d) == ["a", "b"] and list(d.keys()) == ["a", "b"] and len(d) == 2
    assert "a" in d and "z" not in d
    d["c"] = nn.Tanh()
    d.update([("e", nn.Identity())])
    assert [k for k, _ in d.items()] == ["a", "b", "c", "e"]
    assert isinstance(d.pop("b"), nn.ReLU) and "b" not in d
    del d["c"]
    assert list(d.keys()) == ["a", "e"]
    assert [n for n, _ in d.named_parameters()] == ["a.weight", "a.bias"]
    assert all(isinstance(m, nn.Module) for m in d.values())
    d.clear()
    assert len(d) == 0
