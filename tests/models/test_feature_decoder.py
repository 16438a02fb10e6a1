"""Tests for chainrule.models.FeatureDecoder, layer_features and layer_names (notes 4.2)."""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.autograd import gradcheck
from chainrule.models import FeatureDecoder, layer_features, layer_names, lenet5
from chainrule.ops._util import OpError


def _tiny_classifier():
    """A small CNN on 1x8x8 images: conv (2, 8x8), ReLU, pool (2, 4x4), flatten, FC 5, ReLU,
    FC 3."""
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Flatten(1), nn.Linear(32, 5), nn.ReLU(), nn.Linear(5, 3))


# ---- layer features --------------------------------------------------------------------------
def test_layer_names_of_lenet5():
    names = layer_names(lenet5())
    assert names[:3] == ["features", "features.0", "features.1"]
    assert "features.5" in names and "classifier.4" in names and "" not in names


def test_layer_features_equal_running_the_sequential_up_to_the_layer():
    cr.manual_seed(0)
    net = lenet5()
    x = cr.randn(3, 1, 28, 28)
    h2 = layer_features(net, "features.2", x)
    ref = net.features[2](net.features[1](net.features[0](x)))
    assert h2.shape == (3, 6, 14, 14) and np.allclose(h2.numpy(), ref.numpy())
    both = layer_features(net, ["classifier.4", "features.5"], x)
    assert list(both) == ["classifier.4", "features.5"]
    assert both["features.5"].shape == (3, 16, 5, 5)
    assert np.allclose(both["classifier.4"].numpy(), net(x).numpy())
    fc1 = layer_features(net, "classifier.1", x)  # after the ReLU: non-negative
    assert fc1.shape == (3, 120) and fc1.numpy().min() >= 0


def test_layer_features_stop_early_and_remove_their_hooks():
    net = lenet5()
    calls = []
    net.classifier[4].register_forward_hook(lambda m, a, o: calls.append(1))
    layer_features(net, "features.2", cr.randn(2, 1, 28, 28))
    assert calls == []  # the forward stopped after features.2
    assert all(not m._forward_hooks for name, m in net.named_modules()
               if name != "classifier.4")
    net(cr.randn(2, 1, 28, 28))
    assert calls == [1]


def test_layer_features_records_gradients_unless_no_grad():
    net = _tiny_classifier()
    x = cr.randn(2, 1, 8, 8, requires_grad=True)
    h = layer_features(net, "4", x)
    h.sum().backward()
    assert x.grad is not None and x.grad.shape == (2, 1, 8, 8)
    with cr.no_grad():
        assert not layer_features(net, "4", x).requires_grad


def test_layer_features_errors():
    net = lenet5()
    with pytest.raises(KeyError, match=r"LeNet5 has no layer 'conv9'.*features\.0"):
        layer_features(net, "conv9", cr.randn(1, 1, 28, 28))
    with pytest.raises(ValueError, match="at least one layer"):
        layer_features(net, [], cr.randn(1, 1, 28, 28))


# ---- the decoder -----------------------------------------------------------------------------
@pytest.mark.parametrize("layer,shape,path", [
    ("features.0", (6, 28, 28), "conv"), ("features.2", (6, 14, 14), "conv"),
    ("features.3", (16, 10, 10), "conv"), ("features.5", (16, 5, 5), "conv"),
    ("classifier.1", (120,), "linear"), ("classifier.3", (84,), "linear"),
    ("classifier.4", (10,), "linear")])
def test_decoder_shapes_for_each_lenet5_layer(layer, shape, path):
    cr.manual_seed(0)
    net = lenet5()
    dec = FeatureDecoder(net, layer, channels=2, hidden=8)
    assert dec.feature_shape == shape and dec.path == path
    x = cr.randn(2, 1, 28, 28)
    h = dec.features(x)
    assert h.shape == (2,) + shape and not h.requires_grad
    assert dec(h).shape == (2, 1, 28, 28)
    assert dec.reconstruct(x).shape == (2, 1, 28, 28)
    assert dec.loss(x).shape == ()


def test_loss_is_the_mean_squared_error_and_sigmoid_bounds_the_image():
    cr.manual_seed(1)
    net = _tiny_classifier()
    dec = FeatureDecoder(net, "5", image_shape=(1, 8, 8), channels=2, hidden=6,
                         output="sigmoid")
    x = cr.randn(4, 1, 8, 8)
    target = cr.rand(4, 1, 8, 8)
    out = dec.reconstruct(x).numpy()
    assert out.min() > 0 and out.max() < 1
    assert np.isclose(dec.loss(x, target).item(), np.mean((out - target.numpy()) ** 2),
                      rtol=1e-5)
    h = dec.features(x)
    assert np.isclose(dec.loss(x, target, h=h).item(), dec.loss(x, target).item())


def test_non_square_images_take_the_linear_path():
    net = nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(1),
                        nn.Linear(2 * 8 * 12, 4))
    dec = FeatureDecoder(net, "0", image_shape=(1, 8, 12), channels=2, hidden=5)
    assert dec.feature_shape == (2, 8, 12) and dec.path == "linear"
    assert dec.reconstruct(cr.randn(3, 1, 8, 12)).shape == (3, 1, 8, 12)


def test_the_classifier_is_frozen_and_not_a_submodule():
    cr.manual_seed(2)
    net = _tiny_classifier()
    net.train()
    dec = FeatureDecoder(net, "1", image_shape=(1, 8, 8), channels=2)
    assert dec.classifier is net
    own = {id(p) for p in dec.parameters()}
    assert not own & {id(p) for p in net.parameters()}
    assert all(k.startswith("decoder.") for k in dec.state_dict())
    before = [p.numpy().copy() for p in net.parameters()]
    opt = cr.optim.Adam(dec.parameters(), lr=1e-2)
    x = cr.randn(4, 1, 8, 8)
    for _ in range(3):
        opt.zero_grad()
        dec.loss(x).backward()
        opt.step()
    assert all(np.array_equal(b, p.numpy()) for b, p in zip(before, net.parameters()))
    assert all(p.grad is None for p in net.parameters())
    assert net.training  # features() ran the classifier in eval mode and put its mode back


def test_decoder_errors_name_what_was_expected():
    net = lenet5()
    with pytest.raises(KeyError, match="FeatureDecoder.*no layer 'fc9'"):
        FeatureDecoder(net, "fc9")
    with pytest.raises(TypeError, match="expected the classifier as an nn.Module"):
        FeatureDecoder(lambda x: x, "features.0")
    with pytest.raises(ValueError, match="output must be one of"):
        FeatureDecoder(net, "features.5", output="tanh")
    with pytest.raises(ValueError, match=r"image_shape must be \(C, H, W\)"):
        FeatureDecoder(net, "features.5", image_shape=(28, 28))
    with pytest.raises(ValueError, match="channels must be a positive int"):
        FeatureDecoder(net, "features.5", channels=0)
    dec = FeatureDecoder(net, "features.5", channels=2)
    with pytest.raises(OpError, match=r"expected features h of shape \(N, 16, 5, 5\), got "
                                      r"\(2, 120\)"):
        dec(cr.randn(2, 120))
    with pytest.raises(OpError,
                       match=r"expected x of shape \(N, 1, 28, 28\), got \(2, 3, 28, 28\)"):
        dec.features(cr.randn(2, 3, 28, 28))
    with pytest.raises(TypeError, match="expected x as a Tensor"):
        dec.features(np.zeros((2, 1, 28, 28)))
    with pytest.raises(OpError, match="as many features as targets"):
        dec.loss(cr.randn(2, 1, 28, 28), cr.randn(3, 1, 28, 28))


# ---- gradients and fitting -------------------------------------------------------------------
@pytest.mark.parametrize("layer", ["1", "5"])  # a feature map (2x8x8) and a vector (5)
def test_gradcheck_float64(layer):
    cr.manual_seed(3)
    net = _tiny_classifier().double()
    dec = FeatureDecoder(net, layer, image_shape=(1, 8, 8), channels=1, hidden=3).double()
    x = cr.tensor(np.random.default_rng(0).standard_normal((2, 1, 8, 8)))
    target = cr.tensor(np.random.default_rng(1).random((2, 1, 8, 8)))
    h = dec.features(x)
    h = cr.tensor(h.numpy() + 0.1, requires_grad=True)  # away from the ReLU kinks
    params = list(dec.parameters())
    assert gradcheck(lambda hh, *ps: dec.loss(x, target, h=hh), [h] + params)


def test_overfits_a_few_images():
    cr.manual_seed(4)
    net = _tiny_classifier()
    rng = np.random.default_rng(5)
    x = cr.tensor(rng.standard_normal((4, 1, 8, 8)).astype(np.float32))
    target = cr.tensor(rng.random((4, 1, 8, 8)).astype(np.float32))
    dec = FeatureDecoder(net, "4", image_shape=(1, 8, 8), channels=4, hidden=32,
                         output="sigmoid")
    h = dec.features(x)
    opt = cr.optim.Adam(dec.parameters(), lr=1e-2)
    first = dec.loss(x, target, h=h).item()
    for _ in range(300):
        opt.zero_grad()
        loss = dec.loss(x, target, h=h)
        loss.backward()
        opt.step()
    assert loss.item() < 0.05 * first and loss.item() < 5e-3
