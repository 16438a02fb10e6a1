"""recipes/: the registry, the optimizer and scheduler factories, and each recipe's build."""
import argparse

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim, recipes
from chainrule.recipes import OPTIMIZERS, RECIPES, SCHEDULERS, make_optimizer, make_scheduler
from tests._fashion import requires_fashion_mnist


def _args(name, argv=()):
    p = argparse.ArgumentParser()
    r = recipes.get_recipe(name)
    r.add_arguments(p)
    args = p.parse_args(list(argv))
    args.batch_size, args.limit_train = r.DEFAULTS["batch_size"], None
    return args


def test_every_recipe_has_the_interface():
    for name in RECIPES:
        r = recipes.get_recipe(name)
        assert isinstance(r.DESCRIPTION, str) and "\n" not in r.DESCRIPTION
        assert set(r.DEFAULTS) >= {"epochs", "batch_size", "optimizer", "lr", "scheduler",
                                   "weight_decay"}
        assert r.DEFAULTS["optimizer"] in OPTIMIZERS and r.DEFAULTS["scheduler"] in SCHEDULERS
        assert callable(r.add_arguments) and callable(r.build)
    with pytest.raises(KeyError, match="unknown recipe 'nope'; the recipes are: perceptron"):
        recipes.get_recipe("nope")


def test_default_lr_follows_the_optimizer():
    mlp = recipes.get_recipe("mlp")
    assert recipes.default_lr(mlp, "adam") == mlp.DEFAULTS["lr"] == 1e-3
    assert recipes.default_lr(mlp, "sgd") == mlp.LR["sgd"]


@pytest.mark.parametrize("name", list(OPTIMIZERS))
def test_make_optimizer(name):
    params = [nn.Parameter(cr.zeros(3))]
    opt = make_optimizer(name, params, lr=0.123)
    expected = {"sgd": optim.SGD, "momentum": optim.SGD, "nesterov": optim.SGD,
                "adagrad": optim.Adagrad, "rmsprop": optim.RMSprop, "adadelta": optim.Adadelta,
                "adam": optim.Adam, "adamw": optim.AdamW}[name]
    g = opt.param_groups[0]
    assert type(opt) is expected and g["lr"] == 0.123
    if name in ("momentum", "nesterov"):
        assert g["momentum"] == 0.9 and g["nesterov"] == (name == "nesterov")
    assert g["weight_decay"] == (0.01 if name == "adamw" else 0)
    with pytest.raises(ValueError, match="unknown optimizer"):
        make_optimizer("lbfgs", params, lr=1)


def test_make_scheduler_values():
    def lrs(name, epochs=6):
        opt = optim.SGD([nn.Parameter(cr.zeros(1))], lr=1.0)
        s = make_scheduler(name, opt, epochs)
        out = []
        for _ in range(epochs):
            out.append(opt.param_groups[0]["lr"])
            opt.step()
            s.step(0.5) if name == "plateau" else s.step()
        return out

    assert make_scheduler("none", None, 5) is None
    assert lrs("step") == pytest.approx([1, 1, 0.1, 0.1, 0.01, 0.01])
    assert lrs("cosine", 4) == pytest.approx([1, (1 + np.cos(np.pi / 4)) / 2, 0.5,
                                              (1 + np.cos(3 * np.pi / 4)) / 2])
    assert lrs("inverse-time", 4) == pytest.approx([1, 1 / 2, 1 / 3, 1 / 4])  # eta_t = c / t
    assert lrs("plateau")[-1] < 1  # a metric that never improves lowers the rate
    with pytest.raises(ValueError, match="unknown scheduler"):
        make_scheduler("warmup", None, 3)


def test_perceptron_build():
    args = _args("perceptron", ["--hidden", "5", "--n-train", "300", "--n-test", "100"])
    args.limit_train = 200
    s = recipes.get_recipe("perceptron").build(args)
    xb, yb = next(iter(s.train_loader))
    assert xb.shape == (32, 2) and yb.dtype == np.float32
    assert len(s.train_loader.dataset) == 200 and len(s.test_loader.dataset) == 100
    assert s.model(xb).shape == (32,)
    assert s.model.alpha.shape == (5, 2)
    # validation and test sets are different draws
    assert not np.array_equal(s.val_loader.dataset.tensors[0].numpy(),
                              s.test_loader.dataset.tensors[0].numpy())


def test_mlp_model_layers():
    mlp = recipes.get_recipe("mlp")
    m = mlp.make_model(784, [64, 32], 10, dropout=0.5)
    assert [type(l).__name__ for l in m] == ["Linear", "ReLU", "Dropout", "Linear", "ReLU",
                                             "Dropout", "Linear"]
    assert m(cr.zeros(3, 784)).shape == (3, 10)
    assert "Dropout" not in [type(l).__name__ for l in mlp.make_model(784, [16], 10, 0.0)]


@requires_fashion_mnist
def test_mlp_build_on_fashion_mnist():
    args = _args("mlp", ["--hidden", "32", "--val-size", "1000", "--dropout", "0"])
    args.limit_train = 500
    s = recipes.get_recipe("mlp").build(args)
    assert len(s.train_loader.dataset) == 500 and len(s.val_loader.dataset) == 1000
    assert len(s.test_loader.dataset) == 10000
    X = s.val_loader.dataset.tensors[0].numpy()
    assert X.shape == (1000, 784) and X.dtype == np.float32
    assert abs(X.mean()) < 0.1 and abs(X.std() - 1) < 0.1  # normalized with the train statistics
    xb, yb = next(iter(s.train_loader))
    assert xb.shape == (128, 784) and yb.dtype == np.int64
    assert s.model(xb).shape == (128, 10)
    # the held-out images are not among the training images
    train_X = s.train_loader.dataset.tensors[0].numpy()
    assert not {r.tobytes() for r in train_X} & {r.tobytes() for r in X}
