"""LeNet-5 (models/lenet.py): size, names, the same function as a torch re-implementation, gradients
for every parameter, and it overfits one batch."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.models import LeNet5, lenet5

from .cnn_helpers import conv, fc, n_params, torch_state


def test_parameter_count_closed_form():
    want = conv(1, 6, 5) + conv(6, 16, 5) + fc(400, 120) + fc(120, 84) + fc(84, 10)
    assert want == 61706
    assert n_params(lenet5()) == want
    assert n_params(lenet5(num_classes=5, in_channels=3)) == want + 2 * 6 * 25 - 5 * 84 - 5


def test_state_dict_keys_and_output_shape():
    net = lenet5()
    assert isinstance(net, LeNet5)
    assert list(net.state_dict()) == [f"{part}.{i}.{p}" for part, idx in
                                      (("features", (0, 3)), ("classifier", (0, 2, 4)))
                                      for i in idx for p in ("weight", "bias")]
    assert net(cr.randn(4, 1, 28, 28)).shape == (4, 10)
    assert lenet5(num_classes=3, in_channels=3)(cr.randn(2, 3, 28, 28)).shape == (2, 3)


def test_same_function_as_torch():
    torch = pytest.importorskip("torch")
    tn = torch.nn
    ref = tn.Module()
    ref.features = tn.Sequential(tn.Conv2d(1, 6, 5, padding=2), tn.ReLU(), tn.MaxPool2d(2, 2),
                                 tn.Conv2d(6, 16, 5), tn.ReLU(), tn.MaxPool2d(2, 2))
    ref.classifier = tn.Sequential(tn.Linear(400, 120), tn.ReLU(), tn.Linear(120, 84), tn.ReLU(),
                                   tn.Linear(84, 10))
    net = lenet5()
    ref.load_state_dict(torch_state(net))
    x = np.random.default_rng(0).standard_normal((3, 1, 28, 28)).astype(np.float32)
    want = ref.classifier(ref.features(torch.from_numpy(x)).flatten(1)).detach().numpy()
    np.testing.assert_allclose(net(cr.tensor(x)).numpy(), want, rtol=1e-4, atol=1e-5)


def test_backward_reaches_every_parameter():
    net = lenet5()
    x = cr.randn(4, 1, 28, 28, requires_grad=True)
    loss = nn.CrossEntropyLoss()(net(x), cr.tensor(np.array([0, 1, 2, 3])))
    loss.backward()
    for name, p in net.named_parameters():
        assert p.grad is not None and p.grad.shape == p.shape, name
        assert np.all(np.isfinite(p.grad.numpy())) and np.any(p.grad.numpy() != 0), name
    assert x.grad.shape == x.shape


def test_overfits_one_batch():
    """32 random images with fixed labels are memorized in a few dozen Adam steps."""
    rng = np.random.default_rng(0)
    x = cr.tensor(rng.standard_normal((32, 1, 28, 28)).astype(np.float32))
    y = cr.tensor(rng.integers(0, 10, 32))
    net = lenet5()
    opt = optim.Adam(net.parameters(), lr=3e-3)
    loss_fn = nn.CrossEntropyLoss()
    first = None
    for _ in range(40):
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    with cr.no_grad():
        final = loss_fn(net(x), y).item()
    assert first > 2.0 and final < 0.1, (first, final)


def test_wrong_input_names_the_model():
    net = lenet5()
    with pytest.raises(ValueError, match=r"lenet5\(in_channels=1\): expected input "
                                         r"\(N, 1, 28, 28\), got \(2, 3, 28, 28\)"):
        net(cr.randn(2, 3, 28, 28))
    with pytest.raises(ValueError, match=r"lenet5.*got \(2, 1, 32, 32\)"):
        net(cr.randn(2, 1, 32, 32))
    with pytest.raises(TypeError, match="lenet5"):
        net(np.zeros((2, 1, 28, 28), np.float32))
