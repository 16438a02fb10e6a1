"""The notes' two-layer perceptron (section 1.1) on two rings that no hyperplane separates.

    p_i = sigmoid(sum_k beta_k h_ik + beta_0),   h_ik = sigmoid(X_i^T alpha_k + alpha_k0)

trained by maximizing the log-likelihood sum_i {y_i A_i - log(1 + exp(A_i))} (minimizing
``BCEWithLogitsLoss`` of the logit A_i), with mini-batch SGD variants (notes 1.3). The data are
``make_rings``: class 1 inside a disc, class 0 on a ring around it (the notes' Figure 1); train,
validation and test sets are drawn with seeds data_seed, data_seed + 1 and data_seed + 2.
Takes a few seconds.
"""
from __future__ import annotations

from . import Setup, limit

DESCRIPTION = "the notes' two-layer sigmoid network (1.1) on two rings in 2-D; a few seconds"
DEFAULTS = {"epochs": 40, "batch_size": 32, "optimizer": "adam", "lr": 0.05,
            "scheduler": "none", "weight_decay": 0.0}
LR = {"sgd": 1.0, "momentum": 0.1, "nesterov": 0.1, "adagrad": 0.5, "rmsprop": 0.01,
      "adadelta": 1.0, "adamw": 0.05}


def add_arguments(parser):
    g = parser.add_argument_group("perceptron")
    g.add_argument("--hidden", type=int, default=8, help="hidden units d (default 8)")
    g.add_argument("--activation", choices=("sigmoid", "relu"), default="sigmoid",
                   help="hidden units' activation (default sigmoid, as the notes)")
    g.add_argument("--n-train", type=int, default=1000, help="training points (default 1000)")
    g.add_argument("--n-test", type=int, default=1000,
                   help="validation and test points, each (default 1000)")
    g.add_argument("--noise", type=float, default=0.1,
                   help="radial noise of the rings (default 0.1)")
    g.add_argument("--data-seed", type=int, default=0, help="seed of the data (default 0)")


def build(args) -> Setup:
    from .. import nn
    from ..data import DataLoader, TensorDataset
    from ..datasets.synthetic import make_rings
    from ..models import TwoLayerPerceptron

    train = limit(make_rings(args.n_train, noise=args.noise, seed=args.data_seed),
                  args.limit_train)
    val = make_rings(args.n_test, noise=args.noise, seed=args.data_seed + 1)
    test = make_rings(args.n_test, noise=args.noise, seed=args.data_seed + 2)
    model = TwoLayerPerceptron(2, args.hidden, activation=args.activation)
    return Setup(
        model=model,
        loss_fn=nn.BCEWithLogitsLoss(),
        train_loader=DataLoader(TensorDataset(*train), batch_size=args.batch_size, shuffle=True),
        val_loader=DataLoader(TensorDataset(*val), batch_size=1000),
        test_loader=DataLoader(TensorDataset(*test), batch_size=1000),
    )
