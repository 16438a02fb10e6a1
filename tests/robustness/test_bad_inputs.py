"""The bad-input audit: every wrong input gives a clear exception, never a bare NumPy traceback.

Each case is a call with one thing wrong (the rank, the channel/feature count or the dtype of a
layer's input, a loss target out of range or of the wrong shape, an invalid hyperparameter, a
damaged dataset or checkpoint file, a state dict of another architecture). It must raise the
expected exception type from chainrule's own code, with a message that holds the given fragments
(the layer/op/loss/optimizer/dataset/file named, what was expected and what came) and none of
NumPy's or Python's bare messages ("operands could not be broadcast", "invalid literal for int",
"'<=' not supported between instances", ...). ``test_the_audit_is_wide`` counts the cases by
kind.
"""
import collections
import gzip
import os
import pickle
import re
import struct
import traceback

import numpy as np
import pytest

import chainrule as cr
from chainrule import nn, optim
from chainrule.datasets import MNIST, FashionMNIST, IDXError, read_idx
from chainrule.datasets.cifar import load_batch
from chainrule.optim import lr_scheduler as S
from chainrule.serialization import CorruptFileError
from chainrule.train.checkpoint import load_checkpoint, make_checkpoint, restore, save_checkpoint

PACKAGE = os.path.dirname(os.path.abspath(cr.__file__))

# messages of NumPy and of Python's builtins that explain nothing to a chainrule user
RAW = re.compile("|".join([
    r"could not be broadcast", r"not aligned", r"is out of bounds for axis", r"cannot reshape",
    r"invalid literal for int", r"not supported between instances", r"unsupported operand type",
    r"has no attribute", r"setting an array element with a sequence", r"array is too big",
    r"negative dimensions are not allowed", r"object is not subscriptable",
    r"object is not iterable", r"positional argument", r"has a mismatch in its core dimension",
    r"must be a string or a real number", r"could not convert string to float",
    r"object cannot be interpreted as an integer", r"^\S+$",
]))

CASES = []


def bad(kind, name, thunk, exc, *fragments):
    """Register a bad input: ``thunk()`` must raise ``exc`` with every fragment in its message."""
    CASES.append(pytest.param(thunk, exc, fragments, id=f"{kind}:{name}"))


def f32(*shape):
    return cr.randn(*shape)


def i64(*shape):
    return cr.tensor(np.ones(shape, np.int64))


def f64(*shape):
    return cr.tensor(np.ones(shape, np.float64))


def boolean(*shape):
    return cr.tensor(np.ones(shape, bool))


def fwd(make, *inputs, **kwargs):
    """A thunk that builds a layer with ``make()`` and calls it on the inputs (callables among
    them are called first, so every run gets fresh tensors)."""
    return lambda: make()(*[x() if callable(x) else x for x in inputs], **kwargs)


E = ValueError  # OpError is a ValueError
T = TypeError   # OpTypeError is a TypeError
I = IndexError  # OpIndexError is an IndexError


# ---- layers: rank, channels/features, dtype, non-tensors, constructor arguments ----------------
L = "layer"
lin = lambda: nn.Linear(4, 3)  # noqa: E731
bad(L, "Linear-0d", fwd(lin, lambda: cr.tensor(1.0)), E, "Linear(4, 3)", "(*, 4)", "got ()")
bad(L, "Linear-features", fwd(lin, lambda: f32(2, 5)), E, "Linear(4, 3)", "(*, 4)", "(2, 5)")
bad(L, "Linear-features-3d", fwd(lin, lambda: f32(2, 3, 5)), E, "Linear(4, 3)", "(2, 3, 5)")
bad(L, "Linear-int", fwd(lin, lambda: i64(2, 4)), T, "Linear(4, 3)", "int64", "float32")
bad(L, "Linear-bool", fwd(lin, lambda: boolean(2, 4)), T, "Linear(4, 3)", "bool")
bad(L, "Linear-float64", fwd(lin, lambda: f64(2, 4)), T, "Linear(4, 3)", "float64", "float32")
bad(L, "Linear-ndarray", fwd(lin, np.ones((2, 4), np.float32)), E, "Linear(4, 3)", "ndarray")
bad(L, "Linear-list", fwd(lin, [[1.0] * 4]), E, "Linear(4, 3)", "list")
bad(L, "Linear-ctor-negative", lambda: nn.Linear(-1, 3), E, "Linear", "in_features", "-1")
bad(L, "Linear-ctor-float", lambda: nn.Linear(4, 2.5), E, "Linear", "out_features", "2.5")
bad(L, "Linear-ctor-str", lambda: nn.Linear("4", 3), E, "Linear", "in_features", "'4'")

conv = lambda: nn.Conv2d(3, 4, 3)  # noqa: E731
bad(L, "Conv2d-rank2", fwd(conv, lambda: f32(3, 5)), E, "Conv2d(3, 4)", "(N, 3, H, W)", "(3, 5)")
bad(L, "Conv2d-rank5", fwd(conv, lambda: f32(1, 1, 3, 5, 5)), E, "Conv2d(3, 4)",
    "(1, 1, 3, 5, 5)")
bad(L, "Conv2d-channels", fwd(conv, lambda: f32(1, 2, 5, 5)), E, "Conv2d(3, 4)", "(N, 3, H, W)",
    "(1, 2, 5, 5)")
bad(L, "Conv2d-channels-unbatched", fwd(conv, lambda: f32(2, 5, 5)), E, "Conv2d(3, 4)",
    "(2, 5, 5)")
bad(L, "Conv2d-too-small", fwd(conv, lambda: f32(1, 3, 2, 2)), E, "Conv2d(3, 4)", "(2, 2)",
    "(3, 3)")
bad(L, "Conv2d-int", fwd(conv, lambda: i64(1, 3, 5, 5)), T, "conv2d", "int64")
bad(L, "Conv2d-float64", fwd(conv, lambda: f64(1, 3, 5, 5)), T, "conv2d", "float64", "float32")
bad(L, "Conv2d-ndarray", fwd(conv, np.ones((1, 3, 5, 5), np.float32)), E, "Conv2d(3, 4)",
    "ndarray")
bad(L, "Conv2d-ctor-kernel0", lambda: nn.Conv2d(3, 4, 0), E, "Conv2d(3, 4)", "kernel_size",
    ">= 1")
bad(L, "Conv2d-ctor-stride0", lambda: nn.Conv2d(3, 4, 3, stride=0), E, "Conv2d(3, 4)", "stride")
bad(L, "Conv2d-ctor-groups", lambda: nn.Conv2d(3, 4, 3, groups=2), E, "Conv2d(3, 4)",
    "divisible by groups")
bad(L, "Conv2d-ctor-channels0", lambda: nn.Conv2d(0, 4, 3), E, "Conv2d", "in_channels", "0")
bad(L, "Conv2d-ctor-padding-str", lambda: nn.Conv2d(3, 4, 3, padding="full"), E, "Conv2d(3, 4)",
    "padding", "'full'")
bad(L, "Conv2d-ctor-padding-mode", lambda: nn.Conv2d(3, 4, 3, padding_mode="mirror"), E,
    "Conv2d(3, 4)", "padding_mode", "'mirror'")
bad(L, "Conv2d-ctor-same-stride", lambda: nn.Conv2d(3, 4, 3, padding="same", stride=2), E,
    "Conv2d(3, 4)", "padding='same'", "stride")
bad(L, "Conv2d-ctor-kernel-triple", lambda: nn.Conv2d(3, 4, (3, 3, 3)), T, "Conv2d(3, 4)",
    "kernel_size", "(3, 3, 3)")

convt = lambda: nn.ConvTranspose2d(3, 4, 3)  # noqa: E731
bad(L, "ConvTranspose2d-rank2", fwd(convt, lambda: f32(3, 5)), E, "ConvTranspose2d(3, 4)",
    "(N, 3, H, W)", "(3, 5)")
bad(L, "ConvTranspose2d-channels", fwd(convt, lambda: f32(1, 4, 5, 5)), E,
    "ConvTranspose2d(3, 4)", "(1, 4, 5, 5)")
bad(L, "ConvTranspose2d-int", fwd(convt, lambda: i64(1, 3, 5, 5)), T, "conv_transpose2d",
    "int64")
bad(L, "ConvTranspose2d-float64", fwd(convt, lambda: f64(1, 3, 5, 5)), T, "conv_transpose2d",
    "float64")
bad(L, "ConvTranspose2d-output-size", fwd(convt, lambda: f32(1, 3, 5, 5), output_size=(20, 20)),
    E, "ConvTranspose2d(3, 4)", "(20, 20)", "not reachable")
bad(L, "ConvTranspose2d-padding-too-big",
    fwd(lambda: nn.ConvTranspose2d(3, 4, 3, padding=4), lambda: f32(1, 3, 2, 2)), E,
    "ConvTranspose2d(3, 4)", "not positive")
bad(L, "ConvTranspose2d-ctor-output-padding",
    lambda: nn.ConvTranspose2d(3, 4, 3, stride=2, output_padding=2), E, "ConvTranspose2d(3, 4)",
    "output_padding")
bad(L, "ConvTranspose2d-ctor-padding-mode",
    lambda: nn.ConvTranspose2d(3, 4, 3, padding_mode="reflect"), E, "ConvTranspose2d(3, 4)",
    "'reflect'")

for name, make in [("MaxPool2d", lambda: nn.MaxPool2d(2)), ("AvgPool2d", lambda: nn.AvgPool2d(2)),
                   ("AdaptiveAvgPool2d", lambda: nn.AdaptiveAvgPool2d(2)),
                   ("AdaptiveMaxPool2d", lambda: nn.AdaptiveMaxPool2d(2))]:
    op = re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower().replace("pool2_d", "pool2d")
    bad(L, f"{name}-rank2", fwd(make, lambda: f32(4, 4)), E, name, "(N, C, H, W)", "(4, 4)")
    bad(L, f"{name}-rank5", fwd(make, lambda: f32(1, 1, 1, 4, 4)), E, name, "(1, 1, 1, 4, 4)")
    bad(L, f"{name}-int", fwd(make, lambda: i64(1, 3, 4, 4)), T, op, "int64")
    bad(L, f"{name}-ndarray", fwd(make, np.ones((1, 3, 4, 4), np.float32)), E, name, "ndarray")
bad(L, "MaxPool2d-too-small", fwd(lambda: nn.MaxPool2d(3), lambda: f32(1, 3, 2, 2)), E,
    "max_pool2d", "(1, 3, 2, 2)", "too small")
bad(L, "MaxPool2d-kernel0", fwd(lambda: nn.MaxPool2d(0), lambda: f32(1, 3, 4, 4)), E,
    "max_pool2d", "kernel_size", "(0, 0)")
bad(L, "MaxPool2d-padding", fwd(lambda: nn.MaxPool2d(2, padding=2), lambda: f32(1, 3, 4, 4)), E,
    "max_pool2d", "padding", "half")
bad(L, "MaxPool2d-stride0", fwd(lambda: nn.MaxPool2d(2, stride=0), lambda: f32(1, 3, 4, 4)), E,
    "max_pool2d", "stride")
bad(L, "AvgPool2d-too-small", fwd(lambda: nn.AvgPool2d(5), lambda: f32(1, 3, 4, 4)), E,
    "avg_pool2d", "(1, 3, 4, 4)")
bad(L, "AvgPool2d-padding", fwd(lambda: nn.AvgPool2d(2, padding=3), lambda: f32(1, 3, 4, 4)), E,
    "avg_pool2d", "padding")
bad(L, "AdaptiveAvgPool2d-size0", fwd(lambda: nn.AdaptiveAvgPool2d(0), lambda: f32(1, 3, 4, 4)),
    E, "adaptive_avg_pool2d", "output_size", "(0, 0)")
bad(L, "AdaptiveAvgPool2d-negative",
    fwd(lambda: nn.AdaptiveAvgPool2d((-1, 2)), lambda: f32(1, 3, 4, 4)), E, "adaptive_avg_pool2d",
    "(-1, 2)")
bad(L, "AdaptiveMaxPool2d-size0", fwd(lambda: nn.AdaptiveMaxPool2d(0), lambda: f32(1, 3, 4, 4)),
    E, "adaptive_max_pool2d", "output_size")

bn1 = lambda: nn.BatchNorm1d(4)  # noqa: E731
bn2 = lambda: nn.BatchNorm2d(3)  # noqa: E731
bad(L, "BatchNorm1d-rank1", fwd(bn1, lambda: f32(4)), E, "BatchNorm1d(4)", "(N, 4)", "(4,)")
bad(L, "BatchNorm1d-rank4", fwd(bn1, lambda: f32(2, 4, 3, 3)), E, "BatchNorm1d(4)",
    "(2, 4, 3, 3)")
bad(L, "BatchNorm1d-features", fwd(bn1, lambda: f32(2, 5)), E, "BatchNorm1d(4)", "(2, 5)")
bad(L, "BatchNorm1d-int", fwd(bn1, lambda: i64(2, 4)), T, "BatchNorm1d(4)", "int64")
bad(L, "BatchNorm1d-float64", fwd(bn1, lambda: f64(2, 4)), T, "BatchNorm1d(4)", "float64",
    "float32")
bad(L, "BatchNorm1d-float64-eval", fwd(lambda: nn.BatchNorm1d(4).eval(), lambda: f64(2, 4)), T,
    "BatchNorm1d(4)", "float64")
bad(L, "BatchNorm1d-one-value", fwd(bn1, lambda: f32(1, 4)), E, "BatchNorm1d(4)",
    "more than 1 value")
bad(L, "BatchNorm1d-ndarray", fwd(bn1, np.ones((2, 4), np.float32)), E, "BatchNorm1d(4)",
    "ndarray")
bad(L, "BatchNorm1d-ctor-features0", lambda: nn.BatchNorm1d(0), E, "BatchNorm1d",
    "num_features", "0")
bad(L, "BatchNorm1d-ctor-momentum", lambda: nn.BatchNorm1d(4, momentum=2), E, "BatchNorm1d",
    "momentum", "[0, 1]")
bad(L, "BatchNorm2d-rank3", fwd(bn2, lambda: f32(3, 4, 4)), E, "BatchNorm2d(3)", "(N, 3, H, W)",
    "(3, 4, 4)")
bad(L, "BatchNorm2d-rank2", fwd(bn2, lambda: f32(2, 3)), E, "BatchNorm2d(3)", "(2, 3)")
bad(L, "BatchNorm2d-channels", fwd(bn2, lambda: f32(2, 4, 4, 4)), E, "BatchNorm2d(3)",
    "(2, 4, 4, 4)")
bad(L, "BatchNorm2d-int", fwd(bn2, lambda: i64(2, 3, 4, 4)), T, "BatchNorm2d(3)", "int64")
bad(L, "BatchNorm2d-float64", fwd(bn2, lambda: f64(2, 3, 4, 4)), T, "BatchNorm2d(3)", "float64")
bad(L, "BatchNorm2d-ctor-features", lambda: nn.BatchNorm2d(2.5), E, "BatchNorm2d",
    "num_features", "2.5")

lrn = lambda: nn.LocalResponseNorm(2)  # noqa: E731
bad(L, "LocalResponseNorm-rank2", fwd(lrn, lambda: f32(4, 4)), E, "LocalResponseNorm(2)",
    "(N, C, *)", "(4, 4)")
bad(L, "LocalResponseNorm-rank1", fwd(lrn, lambda: f32(4)), E, "LocalResponseNorm(2)", "(4,)")
bad(L, "LocalResponseNorm-int", fwd(lrn, lambda: i64(2, 3, 4, 4)), T, "local_response_norm",
    "int64")
bad(L, "LocalResponseNorm-ndarray", fwd(lrn, np.ones((2, 3, 4), np.float32)), E,
    "LocalResponseNorm(2)", "ndarray")
bad(L, "LocalResponseNorm-ctor-size0", lambda: nn.LocalResponseNorm(0), E, "LocalResponseNorm",
    "size", "0")
bad(L, "LocalResponseNorm-ctor-size-float", lambda: nn.LocalResponseNorm(2.5), E,
    "LocalResponseNorm", "size", "2.5")
bad(L, "LocalResponseNorm-ctor-beta-str", lambda: nn.LocalResponseNorm(2, beta="a"), T,
    "LocalResponseNorm", "beta", "'a'")

bad(L, "Dropout-int", fwd(lambda: nn.Dropout(0.5), lambda: i64(2, 4)), T, "dropout", "int64")
bad(L, "Dropout-ndarray", fwd(lambda: nn.Dropout(0.5), np.ones(3)), T, "Dropout", "ndarray")
bad(L, "Dropout-ctor-p-above-1", lambda: nn.Dropout(1.5), E, "Dropout", "between 0 and 1", "1.5")
bad(L, "Dropout-ctor-p-negative", lambda: nn.Dropout(-0.1), E, "Dropout", "-0.1")
bad(L, "Dropout-ctor-p-str", lambda: nn.Dropout("a"), T, "Dropout", "'a'")
bad(L, "Dropout2d-rank2", fwd(lambda: nn.Dropout2d(0.5), lambda: f32(2, 4)), E, "dropout2d",
    "(N, C, H, W)", "(2, 4)")
bad(L, "Dropout2d-int", fwd(lambda: nn.Dropout2d(0.5), lambda: i64(2, 3, 4, 4)), T, "dropout2d",
    "int64")
bad(L, "Dropout2d-ctor-p", lambda: nn.Dropout2d(2), E, "Dropout2d", "2")

emb = lambda: nn.Embedding(10, 3)  # noqa: E731
bad(L, "Embedding-float-indices", fwd(emb, lambda: f32(2, 3)), T, "Embedding(10, 3)", "float32",
    "int64")
bad(L, "Embedding-index-too-large", fwd(emb, lambda: cr.tensor([1, 10])), I, "Embedding(10, 3)",
    "index 10", "[0, 9]")
bad(L, "Embedding-index-negative", fwd(emb, lambda: cr.tensor([1, -1])), I, "Embedding(10, 3)",
    "index -1")
bad(L, "Embedding-ctor-negative", lambda: nn.Embedding(-1, 3), E, "Embedding",
    "num_embeddings", "-1")
bad(L, "Embedding-ctor-str", lambda: nn.Embedding(10, "a"), E, "Embedding", "embedding_dim",
    "'a'")
bad(L, "Embedding-ctor-padding-idx", lambda: nn.Embedding(10, 3, padding_idx=10), E, "Embedding",
    "padding_idx", "10")
bad(L, "Embedding-ctor-weight-shape", lambda: nn.Embedding(10, 3, _weight=np.ones((3, 10))), E,
    "Embedding", "(10, 3)", "(3, 10)")
bad(L, "Embedding-from-pretrained-1d", lambda: nn.Embedding.from_pretrained(np.ones(5)), E,
    "Embedding.from_pretrained", "(5,)")

for act in ("ReLU", "Sigmoid", "Tanh", "Softplus", "LeakyReLU"):
    bad(L, f"{act}-ndarray", fwd(getattr(nn, act), np.ones(3)), T, "ndarray", "Tensor")
    bad(L, f"{act}-str", fwd(getattr(nn, act), "x"), T, "str", "Tensor")
bad(L, "Softmax-dim", fwd(lambda: nn.Softmax(3), lambda: f32(2, 4)), I, "softmax", "dim 3",
    "[-2, 1]")
bad(L, "LogSoftmax-dim", fwd(lambda: nn.LogSoftmax(-3), lambda: f32(2, 4)), I, "log_softmax",
    "dim -3")
bad(L, "LeakyReLU-ctor-slope-str", lambda: nn.LeakyReLU("a"), T, "LeakyReLU", "negative_slope",
    "'a'")
bad(L, "Softplus-ctor-beta0", lambda: nn.Softplus(beta=0), E, "Softplus", "beta", "0")
bad(L, "Softplus-ctor-beta-str", lambda: nn.Softplus(beta="a"), T, "Softplus", "beta", "'a'")

bad(L, "Flatten-rank1", fwd(nn.Flatten, lambda: f32(4)), I, "flatten", "dim 1")
bad(L, "Flatten-dims", fwd(lambda: nn.Flatten(3, 5), lambda: f32(2, 4)), I, "flatten", "dim 3")
bad(L, "Flatten-order", fwd(lambda: nn.Flatten(1, 0), lambda: f32(2, 3, 4)), E, "flatten",
    "start_dim 1", "end_dim 0")
bad(L, "Unflatten-sizes", fwd(lambda: nn.Unflatten(1, (3, 3)), lambda: f32(2, 4)), E,
    "Unflatten", "(3, 3)", "(2, 4)")
bad(L, "Unflatten-dim", fwd(lambda: nn.Unflatten(5, (2, 2)), lambda: f32(2, 4)), E, "Unflatten",
    "dim 5")
bad(L, "Unflatten-ctor", lambda: nn.Unflatten(1, "ab"), T, "Unflatten", "unflattened_size")

bad(L, "Sequential-mismatch", fwd(lambda: nn.Sequential(nn.Linear(4, 3), nn.Linear(4, 2)),
                                  lambda: f32(2, 4)), E, "Linear(4, 2)", "(*, 4)", "(2, 3)")
bad(L, "Sequential-no-flatten", fwd(lambda: nn.Sequential(nn.Conv2d(1, 2, 3), nn.Linear(8, 2)),
                                    lambda: f32(1, 1, 4, 4)), E, "Linear(8, 2)", "(1, 2, 2, 2)")
bad(L, "Sequential-non-module", lambda: nn.Sequential(nn.Linear(4, 3), "relu"), T, "Sequential",
    "str")
bad(L, "Sequential-index", lambda: nn.Sequential(nn.Linear(4, 3))[3], I, "Sequential",
    "index 3")

for cls in ("RNN", "LSTM", "GRU"):
    mk = (lambda c: lambda: getattr(nn, c)(4, 3))(cls)
    who = f"{cls}(4, 3)"
    bad(L, f"{cls}-features", fwd(mk, lambda: f32(5, 2, 3)), E, who, "(T, B, 4)", "(5, 2, 3)")
    bad(L, f"{cls}-rank4", fwd(mk, lambda: f32(5, 2, 4, 1)), E, who, "(5, 2, 4, 1)")
    bad(L, f"{cls}-rank1", fwd(mk, lambda: f32(4)), E, who, "(4,)")
    bad(L, f"{cls}-no-steps", fwd(mk, lambda: f32(0, 2, 4)), E, who, "at least one time step")
    bad(L, f"{cls}-int", fwd(mk, lambda: i64(5, 2, 4)), T, who, "int64", "float32")
    bad(L, f"{cls}-float64", fwd(mk, lambda: f64(5, 2, 4)), T, who, "float64", "float32")
    bad(L, f"{cls}-ndarray", fwd(mk, np.ones((5, 2, 4), np.float32)), E, who, "ndarray")
    bad(L, f"{cls}-batch-first", fwd((lambda c: lambda: getattr(nn, c)(4, 3, batch_first=True))(
        cls), lambda: f32(2, 5, 3)), E, who, "(B, T, 4)")
    bad(L, f"{cls}-lengths-range", fwd(mk, lambda: f32(5, 2, 4), lengths=[6, 2]), E, who,
        "[0, 5]", "[6, 2]")
    bad(L, f"{cls}-lengths-count", fwd(mk, lambda: f32(5, 2, 4), lengths=[3]), E, who, "(2,)",
        "(1,)")
    bad(L, f"{cls}-ctor-hidden0", (lambda c: lambda: getattr(nn, c)(4, 0))(cls), E, cls,
        "hidden_size", "0")
    bad(L, f"{cls}-ctor-layers0", (lambda c: lambda: getattr(nn, c)(4, 3, num_layers=0))(cls), E,
        cls, "num_layers")
    bad(L, f"{cls}-ctor-dropout", (lambda c: lambda: getattr(nn, c)(4, 3, dropout=2.0))(cls), E,
        cls, "2.0")
    if cls == "LSTM":
        bad(L, "LSTM-hx-tensor", fwd(mk, lambda: f32(5, 2, 4), lambda: f32(1, 2, 3)), T, who,
            "(h_0, c_0)", "Tensor")
        bad(L, "LSTM-c0-shape", fwd(mk, lambda: f32(5, 2, 4), (f32(1, 2, 3), f32(1, 3, 3))), E,
            who, "c_0", "(1, 2, 3)", "(1, 3, 3)")
    else:
        bad(L, f"{cls}-h0-shape", fwd(mk, lambda: f32(5, 2, 4), lambda: f32(2, 2, 3)), E, who,
            "h_0", "(1, 2, 3)", "(2, 2, 3)")
        bad(L, f"{cls}-h0-dtype", fwd(mk, lambda: f32(5, 2, 4), lambda: f64(1, 2, 3)), T,
            cls.lower(), "float64", "float32")
bad(L, "RNN-ctor-nonlinearity", lambda: nn.RNN(4, 3, nonlinearity="sigmoid"), E, "RNN",
    "'sigmoid'", "'tanh' or 'relu'")

for cls in ("RNNCell", "LSTMCell", "GRUCell"):
    mk = (lambda c: lambda: getattr(nn, c)(4, 3))(cls)
    who = f"{cls}(4, 3)"
    bad(L, f"{cls}-features", fwd(mk, lambda: f32(2, 5)), E, who, "(B, 4)", "(2, 5)")
    bad(L, f"{cls}-rank3", fwd(mk, lambda: f32(2, 2, 4)), E, who, "(2, 2, 4)")
    bad(L, f"{cls}-int", fwd(mk, lambda: i64(2, 4)), T, who, "int64")
    bad(L, f"{cls}-float64", fwd(mk, lambda: f64(2, 4)), T, who, "float64")
    hx = (lambda: (f32(3, 3), f32(3, 3))) if cls == "LSTMCell" else (lambda: f32(3, 3))
    bad(L, f"{cls}-hx-batch", fwd(mk, lambda: f32(2, 4), hx), E, who, "(2, 3)", "(3, 3)")
bad(L, "LSTMCell-hx-tensor", fwd(lambda: nn.LSTMCell(4, 3), lambda: f32(2, 4), lambda: f32(2, 3)),
    T, "LSTMCell(4, 3)", "(h, c)")
bad(L, "GRUCell-hx-float64", fwd(lambda: nn.GRUCell(4, 3), lambda: f32(2, 4), lambda: f64(2, 3)),
    T, "gru_cell", "float64", "float32")

att = lambda: nn.AdditiveAttention(4, 5, 6)  # noqa: E731
AW = "AdditiveAttention(4, 5, 6)"
bad(L, "AdditiveAttention-query-dim", fwd(att, lambda: f32(2, 3), lambda: f32(2, 7, 5)), E, AW,
    "(B, 4)", "(2, 3)")
bad(L, "AdditiveAttention-key-dim", fwd(att, lambda: f32(2, 4), lambda: f32(2, 7, 4)), E, AW,
    "(B, S, 5)", "(2, 7, 4)")
bad(L, "AdditiveAttention-batch", fwd(att, lambda: f32(3, 4), lambda: f32(2, 7, 5)), E, AW,
    "batch size 3", "(2, 7, 5)")
bad(L, "AdditiveAttention-key-rank", fwd(att, lambda: f32(2, 4), lambda: f32(2, 5)), E, AW,
    "(B, S, Dk)", "(2, 5)")
bad(L, "AdditiveAttention-query-rank", fwd(att, lambda: f32(4), lambda: f32(2, 7, 5)), E, AW,
    "(4,)")
bad(L, "AdditiveAttention-int", fwd(att, lambda: i64(2, 4), lambda: f32(2, 7, 5)), T, AW,
    "int64")
bad(L, "AdditiveAttention-float64", fwd(att, lambda: f32(2, 4), lambda: f64(2, 7, 5)), T, AW,
    "float64")
bad(L, "AdditiveAttention-mask", fwd(att, lambda: f32(2, 4), lambda: f32(2, 7, 5),
                                     mask=np.ones((2, 6), bool)), E, AW, "(2, 7)", "(2, 6)")
bad(L, "AdditiveAttention-value", fwd(att, lambda: f32(2, 4), lambda: f32(2, 7, 5),
                                      lambda: f32(2, 6, 5)), E, AW, "(2, 7)", "(2, 6, 5)")
for cls in ("DotProductAttention", "ScaledDotProductAttention"):
    mk = getattr(nn, cls)
    bad(L, f"{cls}-E", fwd(mk, lambda: f32(2, 4), lambda: f32(2, 7, 5)), E, cls, "one size E",
        "(2, 4)", "(2, 7, 5)")
    bad(L, f"{cls}-rank", fwd(mk, lambda: f32(2, 3, 4, 4), lambda: f32(2, 7, 4)), E, cls,
        "(2, 3, 4, 4)")
    bad(L, f"{cls}-int", fwd(mk, lambda: i64(2, 4), lambda: f32(2, 7, 4)), T, "attention",
        "int64")
    bad(L, f"{cls}-float64", fwd(mk, lambda: f64(2, 4), lambda: f32(2, 7, 4)), T, "attention",
        "float64")
    bad(L, f"{cls}-mask", fwd(mk, lambda: f32(2, 4), lambda: f32(2, 7, 4),
                              mask=np.ones((3, 7), bool)), E, cls, "(2, 7)", "(3, 7)")
    bad(L, f"{cls}-ctor-dropout", lambda mk=mk: mk(dropout=1.5), E, cls, "1.5")


# ---- losses: class indices out of range, target shapes and dtypes, settings ------------------
LS = "loss"
s43 = lambda: cr.randn(4, 3)  # noqa: E731
y4 = lambda: cr.tensor([0, 1, 2, 1])  # noqa: E731
for cls, fn in (("CrossEntropyLoss", "cross_entropy"), ("NLLLoss", "nll_loss")):
    mk = getattr(nn, cls)
    bad(LS, f"{cls}-index-too-large", fwd(mk, s43, lambda: cr.tensor([0, 1, 3, 1])), I, fn,
        "index 3", "[0, 3)")
    bad(LS, f"{cls}-index-negative", fwd(mk, s43, lambda: cr.tensor([0, 1, -2, 1])), I, fn,
        "index -2")
    bad(LS, f"{cls}-target-short", fwd(mk, s43, lambda: cr.tensor([0, 1, 2])), E, fn, "(4,)",
        "(3,)")
    bad(LS, f"{cls}-target-2d", fwd(mk, s43, lambda: cr.tensor([[0, 1], [2, 1]])), E, fn,
        "(4,)", "(2, 2)")
    bad(LS, f"{cls}-target-bool", fwd(mk, s43, lambda: boolean(4)), T, fn, "bool")
    bad(LS, f"{cls}-input-int", fwd(mk, lambda: i64(4, 3), y4), T, fn, "int64")
    bad(LS, f"{cls}-input-0d", fwd(mk, lambda: cr.tensor(1.0), y4), E, fn, "()")
    bad(LS, f"{cls}-target-list", fwd(mk, s43, [0, 1, 2, 1]), T, fn, "list")
    bad(LS, f"{cls}-target-ndarray", fwd(mk, s43, np.array([0, 1, 2, 1])), T, fn, "ndarray")
    bad(LS, f"{cls}-input-ndarray", fwd(mk, np.ones((4, 3)), y4), T, fn, "ndarray")
    bad(LS, f"{cls}-weight-shape", fwd(lambda mk=mk: mk(weight=cr.ones(4)), s43, y4), E, fn,
        "(3,)", "(4,)")
    bad(LS, f"{cls}-ctor-reduction", lambda mk=mk: mk(reduction="avg"), E, cls, "'avg'",
        "'mean'")
bad(LS, "CrossEntropyLoss-prob-target-shape", fwd(nn.CrossEntropyLoss, s43, lambda: f32(4)), E,
    "cross_entropy", "(4, 3)", "(4,)")
bad(LS, "CrossEntropyLoss-index-2d-spatial",
    fwd(nn.CrossEntropyLoss, lambda: f32(2, 3, 4, 4), lambda: cr.zeros(2, 4, 5, dtype=cr.int64)),
    E, "cross_entropy", "(2, 4, 4)", "(2, 4, 5)")
bad(LS, "NLLLoss-float-target", fwd(nn.NLLLoss, s43, lambda: f32(4)), T, "nll_loss", "float32",
    "int64")
bad(LS, "CrossEntropyLoss-ctor-smoothing", lambda: nn.CrossEntropyLoss(label_smoothing=2), E,
    "CrossEntropyLoss", "label_smoothing", "2")
bad(LS, "CrossEntropyLoss-ctor-smoothing-str", lambda: nn.CrossEntropyLoss(label_smoothing="a"),
    T, "CrossEntropyLoss", "label_smoothing", "'a'")
bad(LS, "BCELoss-shape", fwd(nn.BCELoss, lambda: cr.rand(4), lambda: cr.rand(3)), E,
    "binary_cross_entropy", "(4,)", "(3,)")
bad(LS, "BCELoss-input-range", fwd(nn.BCELoss, lambda: cr.tensor([0.5, 1.5]),
                                   lambda: cr.tensor([0.0, 1.0])), E, "binary_cross_entropy",
    "input", "between 0 and 1")
bad(LS, "BCELoss-target-range", fwd(nn.BCELoss, lambda: cr.tensor([0.5, 0.5]),
                                    lambda: cr.tensor([0.0, 2.0])), E, "binary_cross_entropy",
    "target", "between 0 and 1")
bad(LS, "BCELoss-int-target", fwd(nn.BCELoss, lambda: cr.rand(4), lambda: i64(4)), T,
    "binary_cross_entropy", "int64")
bad(LS, "BCEWithLogitsLoss-int-target", fwd(nn.BCEWithLogitsLoss, lambda: f32(4), lambda: i64(4)),
    T, "binary_cross_entropy_with_logits", "int64")
bad(LS, "BCEWithLogitsLoss-shape", fwd(nn.BCEWithLogitsLoss, lambda: f32(4), lambda: f32(4, 1)),
    E, "binary_cross_entropy_with_logits", "(4,)", "(4, 1)")
bad(LS, "BCEWithLogitsLoss-pos-weight",
    fwd(lambda: nn.BCEWithLogitsLoss(pos_weight=cr.ones(3)), lambda: f32(4, 2),
        lambda: cr.rand(4, 2)), E, "binary_cross_entropy_with_logits", "pos_weight", "(3,)")
for cls, fn in (("MSELoss", "mse_loss"), ("L1Loss", "l1_loss"), ("SmoothL1Loss", "smooth_l1_loss"),
                ("HuberLoss", "huber_loss"), ("KLDivLoss", "kl_div")):
    mk = getattr(nn, cls)
    bad(LS, f"{cls}-shape", fwd(mk, lambda: f32(4, 1), lambda: f32(4)), E, fn, "(4, 1)", "(4,)")
    bad(LS, f"{cls}-int-target", fwd(mk, lambda: f32(4), lambda: i64(4)), T, fn, "int64")
    bad(LS, f"{cls}-int-input", fwd(mk, lambda: i64(4), lambda: f32(4)), T, fn, "int64")
    bad(LS, f"{cls}-ctor-reduction", lambda mk=mk: mk(reduction="avg"), E, cls, "'avg'")
bad(LS, "SmoothL1Loss-ctor-beta", lambda: nn.SmoothL1Loss(beta=-1), E, "SmoothL1Loss", "beta",
    "-1")
bad(LS, "SmoothL1Loss-ctor-beta-str", lambda: nn.SmoothL1Loss(beta="a"), T, "SmoothL1Loss",
    "beta", "'a'")
bad(LS, "HuberLoss-ctor-delta", lambda: nn.HuberLoss(delta=0), E, "HuberLoss", "delta", "0")
bad(LS, "HuberLoss-ctor-delta-none", lambda: nn.HuberLoss(delta=None), T, "HuberLoss", "delta",
    "None")
bad(LS, "one_hot-float", lambda: nn.functional.one_hot(f32(3), 4), T, "one_hot", "float32")
bad(LS, "one_hot-range", lambda: nn.functional.one_hot(cr.tensor([0, 5]), 4), I, "one_hot", "5")


# ---- optimizers and learning-rate schedules: invalid hyperparameters -------------------------
OP = "optimizer"


def params():
    return [nn.Parameter(np.ones(3, np.float32))]


for cls in ("SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "Adadelta"):
    mk = getattr(optim, cls)
    bad(OP, f"{cls}-lr-negative", (lambda m: lambda: m(params(), lr=-0.1))(mk), E, cls,
        "learning rate", "-0.1")
    bad(OP, f"{cls}-lr-nan", (lambda m: lambda: m(params(), lr=float("nan")))(mk), E, cls,
        "learning rate", "nan")
    bad(OP, f"{cls}-lr-str", (lambda m: lambda: m(params(), lr="0.1"))(mk), T, cls,
        "learning rate", "'0.1'")
    bad(OP, f"{cls}-lr-none", (lambda m: lambda: m(params(), lr=None))(mk), T, cls,
        "learning rate", "None")
    bad(OP, f"{cls}-weight-decay", (lambda m: lambda: m(params(), weight_decay=-1))(mk), E, cls,
        "weight_decay", "-1")
    bad(OP, f"{cls}-empty", (lambda m: lambda: m([]))(mk), E, cls, "empty parameter list")
    bad(OP, f"{cls}-single-tensor", (lambda m: lambda: m(params()[0]))(mk), T, cls,
        "single Parameter", "list")
bad(OP, "SGD-momentum", lambda: optim.SGD(params(), lr=0.1, momentum=-0.5), E, "SGD", "momentum",
    "-0.5")
bad(OP, "SGD-nesterov", lambda: optim.SGD(params(), lr=0.1, nesterov=True), E, "SGD", "Nesterov",
    "momentum=0")
bad(OP, "SGD-int-param", lambda: optim.SGD([cr.tensor([1, 2])], lr=0.1), T, "SGD",
    "floating-point", "int64")
bad(OP, "SGD-non-leaf", lambda: optim.SGD([params()[0] * 2], lr=0.1), E, "SGD", "non-leaf")
bad(OP, "SGD-str-param", lambda: optim.SGD(["w"], lr=0.1), T, "SGD", "str")
bad(OP, "SGD-set", lambda: optim.SGD(set(params()), lr=0.1), T, "SGD", "set")
bad(OP, "SGD-group-lr", lambda: optim.SGD([{"params": params(), "lr": -1}], lr=0.1), E, "SGD",
    "learning rate", "param group 0")
bad(OP, "SGD-group-no-params", lambda: optim.SGD([{"lr": 0.1}], lr=0.1), E, "SGD", "'params'")
bad(OP, "SGD-twice", lambda: (lambda p: optim.SGD(p + p, lr=0.1))(params()), E, "SGD", "twice")
for cls in ("Adam", "AdamW"):
    mk = getattr(optim, cls)
    for betas, frag in [((0.9, 1.0), "1.0"), ((-0.1, 0.9), "-0.1"), ((1.5, 0.9), "1.5"),
                        ((0.9, 0.9, 0.9), "(0.9, 0.9, 0.9)"), (0.9, "0.9"), (("a", 0.9), "'a'")]:
        bad(OP, f"{cls}-betas-{betas}", (lambda m, b: lambda: m(params(), betas=b))(mk, betas),
            T if "'a'" in frag else E, cls, "beta", frag)
    bad(OP, f"{cls}-eps", (lambda m: lambda: m(params(), eps=-1e-8))(mk), E, cls, "epsilon",
        "-1e-08")
bad(OP, "RMSprop-alpha-negative", lambda: optim.RMSprop(params(), alpha=-1), E, "RMSprop",
    "alpha", "-1")
bad(OP, "RMSprop-alpha-above-1", lambda: optim.RMSprop(params(), alpha=1.5), E, "RMSprop",
    "alpha", "1.5")
bad(OP, "RMSprop-momentum", lambda: optim.RMSprop(params(), momentum=-1), E, "RMSprop",
    "momentum")
bad(OP, "RMSprop-eps", lambda: optim.RMSprop(params(), eps=-1), E, "RMSprop", "epsilon")
bad(OP, "Adagrad-lr-decay", lambda: optim.Adagrad(params(), lr_decay=-1), E, "Adagrad",
    "lr_decay")
bad(OP, "Adagrad-initial-accumulator", lambda: optim.Adagrad(params(),
                                                             initial_accumulator_value=-1), E,
    "Adagrad", "initial_accumulator_value")
bad(OP, "Adadelta-rho", lambda: optim.Adadelta(params(), rho=1.5), E, "Adadelta", "rho", "1.5")
bad(OP, "Adadelta-eps", lambda: optim.Adadelta(params(), eps=-1), E, "Adadelta", "epsilon")
bad(OP, "SGD-load-state-dict-keys", lambda: optim.SGD(params(), lr=0.1).load_state_dict(
    {"foo": 1}), E, "SGD.load_state_dict", "'state'", "['foo']")
bad(OP, "SGD-load-state-dict-size", lambda: optim.SGD(params(), lr=0.1).load_state_dict(
    {"state": {}, "param_groups": [{"params": [0, 1], "lr": 0.1}]}), E, "SGD.load_state_dict",
    "2 parameters", "1 in the optimizer")
bad(OP, "SGD-load-Adam-state", lambda: optim.SGD(params(), lr=0.1, momentum=0.9).load_state_dict(
    optim.Adam(params()).state_dict()), E, "SGD.load_state_dict", "momentum",
    "another optimizer")

SC = "scheduler"


def opt():
    return optim.SGD(params(), lr=0.1)


for name, thunk, exc, frags in [
    ("StepLR-step-size0", lambda: S.StepLR(opt(), 0), E, ("StepLR", "step_size", "0")),
    ("StepLR-step-size-float", lambda: S.StepLR(opt(), 1.5), E, ("StepLR", "step_size", "1.5")),
    ("StepLR-gamma-negative", lambda: S.StepLR(opt(), 2, gamma=-1), E, ("StepLR", "gamma", "-1")),
    ("StepLR-gamma-str", lambda: S.StepLR(opt(), 2, gamma="x"), T, ("StepLR", "gamma", "'x'")),
    ("MultiStepLR-milestone-negative", lambda: S.MultiStepLR(opt(), [-1, 2]), E,
     ("MultiStepLR", "milestones", "-1")),
    ("MultiStepLR-milestones-str", lambda: S.MultiStepLR(opt(), "ab"), T,
     ("MultiStepLR", "milestones", "'ab'")),
    ("MultiStepLR-milestone-float", lambda: S.MultiStepLR(opt(), [1.5]), T,
     ("MultiStepLR", "milestones", "1.5")),
    ("MultiStepLR-gamma", lambda: S.MultiStepLR(opt(), [2], gamma=0), E,
     ("MultiStepLR", "gamma", "0")),
    ("ExponentialLR-gamma-negative", lambda: S.ExponentialLR(opt(), -0.5), E,
     ("ExponentialLR", "gamma", "-0.5")),
    ("ExponentialLR-gamma-str", lambda: S.ExponentialLR(opt(), "x"), T,
     ("ExponentialLR", "gamma", "'x'")),
    ("CosineAnnealingLR-T-max0", lambda: S.CosineAnnealingLR(opt(), 0), E,
     ("CosineAnnealingLR", "T_max", "0")),
    ("CosineAnnealingLR-eta-min", lambda: S.CosineAnnealingLR(opt(), 10, eta_min=-1), E,
     ("CosineAnnealingLR", "eta_min", "-1")),
    ("InverseTimeLR-t0", lambda: S.InverseTimeLR(opt(), t0=0), E, ("InverseTimeLR", "t0", "0")),
    ("InverseTimeLR-power", lambda: S.InverseTimeLR(opt(), power=-1), E,
     ("InverseTimeLR", "power", "-1")),
    ("InverseTimeLR-c", lambda: S.InverseTimeLR(opt(), c=-1), E, ("InverseTimeLR", "c > 0")),
    ("ReduceLROnPlateau-factor-above-1", lambda: S.ReduceLROnPlateau(opt(), factor=1.5), E,
     ("ReduceLROnPlateau", "factor", "1.5")),
    ("ReduceLROnPlateau-factor-negative", lambda: S.ReduceLROnPlateau(opt(), factor=-0.5), E,
     ("ReduceLROnPlateau", "factor", "-0.5")),
    ("ReduceLROnPlateau-mode", lambda: S.ReduceLROnPlateau(opt(), mode="up"), E,
     ("ReduceLROnPlateau", "mode", "'up'")),
    ("ReduceLROnPlateau-patience", lambda: S.ReduceLROnPlateau(opt(), patience=-1), E,
     ("ReduceLROnPlateau", "patience", "-1")),
    ("ReduceLROnPlateau-threshold", lambda: S.ReduceLROnPlateau(opt(), threshold=-1), E,
     ("ReduceLROnPlateau", "threshold", "-1")),
    ("ReduceLROnPlateau-threshold-mode", lambda: S.ReduceLROnPlateau(opt(), threshold_mode="x"),
     E, ("ReduceLROnPlateau", "threshold_mode", "'x'")),
    ("ReduceLROnPlateau-min-lr", lambda: S.ReduceLROnPlateau(opt(), min_lr=-1), E,
     ("ReduceLROnPlateau", "min_lr", "-1")),
    ("ReduceLROnPlateau-min-lrs-count", lambda: S.ReduceLROnPlateau(opt(), min_lr=[0, 0]), E,
     ("ReduceLROnPlateau", "min_lrs", "got 2")),
    ("ReduceLROnPlateau-cooldown", lambda: S.ReduceLROnPlateau(opt(), cooldown=-1), E,
     ("ReduceLROnPlateau", "cooldown", "-1")),
    ("ReduceLROnPlateau-step-none", lambda: S.ReduceLROnPlateau(opt()).step(None), T,
     ("ReduceLROnPlateau.step", "None")),
    ("ReduceLROnPlateau-step-str", lambda: S.ReduceLROnPlateau(opt()).step("a"), T,
     ("ReduceLROnPlateau.step", "'a'")),
    ("LambdaLR-not-callable", lambda: S.LambdaLR(opt(), 3), T, ("LambdaLR", "callable", "int")),
    ("LambdaLR-count", lambda: S.LambdaLR(opt(), [lambda e: 1, lambda e: 1]), E,
     ("LambdaLR", "expected 1", "got 2")),
    ("StepLR-not-an-optimizer", lambda: S.StepLR("opt", 2), T, ("StepLR", "Optimizer", "str")),
    ("StepLR-resume-without-initial-lr", lambda: S.StepLR(opt(), 2, last_epoch=3), KeyError,
     ("StepLR", "initial_lr", "last_epoch=3")),
    ("StepLR-load-foreign-state", lambda: S.StepLR(opt(), 2).load_state_dict({"x": 1}), E,
     ("StepLR.load_state_dict", "'x'", "'step_size'")),
    ("CosineAnnealingLR-load-StepLR-state",
     lambda: S.CosineAnnealingLR(opt(), 5).load_state_dict(S.StepLR(opt(), 2).state_dict()), E,
     ("CosineAnnealingLR.load_state_dict", "'T_max'", "'step_size'")),
]:
    bad(SC, name, thunk, exc, *frags)


# ---- datasets: IDX (MNIST) and CIFAR files ---------------------------------------------------
DS = "dataset"


def idx(arr, code=0x08, dims=None):
    arr = np.asarray(arr)
    dims = arr.shape if dims is None else dims
    return (bytes([0, 0, code, len(dims)]) + struct.pack(f">{len(dims)}I", *dims)
            + arr.astype(arr.dtype.newbyteorder(">")).tobytes())


def write_file(tmp, name, data, gz=False):
    path = tmp / name
    with (gzip.open if gz else open)(path, "wb") as f:
        f.write(data)
    return path


IMG = np.zeros((3, 28, 28), np.uint8)
LAB = np.array([0, 1, 2], np.uint8)
for name, data, frags in [
    ("empty", b"", ("too short", "0 bytes")),
    ("short-header", b"\0\0\x08", ("too short", "3 bytes")),
    ("wrong-magic-labels", idx(LAB), ("bad IDX magic number 2049", "expected 2051")),
    ("wrong-magic-type", b"\0\0\x07\x03" + struct.pack(">3I", 3, 28, 28), ("magic number",)),
    ("wrong-magic-lead", b"\x01\0\x08\x03" + struct.pack(">3I", 3, 28, 28), ("magic number",)),
    ("wrong-magic-2d", idx(np.zeros((3, 784), np.uint8)), ("magic number 2050", "2051")),
    ("wrong-magic-float", idx(IMG.astype(np.float32), 0x0D), ("magic number 3331",)),
    ("truncated-dims", b"\0\0\x08\x03" + struct.pack(">I", 3), ("truncated IDX header",)),
    ("truncated-data", idx(IMG)[:-10], ("truncated", "(3, 28, 28)", "2342 bytes")),
    ("trailing-bytes", idx(IMG) + b"x", ("longer than its header",)),
    ("huge-dims", b"\0\0\x08\x03" + struct.pack(">3I", 2 ** 32 - 1, 2 ** 32 - 1, 28) + b"abc",
     ("(4294967295, 4294967295, 28)",)),
    ("big-dims", b"\0\0\x08\x03" + struct.pack(">3I", 10 ** 6, 28, 28) + b"abc",
     ("(1000000, 28, 28)", "truncated")),
]:
    for gz in (False, True):
        bad(DS, f"idx-{name}{'-gz' if gz else ''}",
            (lambda d, g, n: lambda: read_idx(write_file(DS_TMP(), n + (".gz" if g else ""), d,
                                                         g), expect_magic=2051))(data, gz, name),
            IDXError, name, *frags)
bad(DS, "idx-gz-cut", lambda: read_idx(write_file(DS_TMP(), "c.gz", gzip.compress(idx(IMG))[:-20]),
                                       expect_magic=2051), IDXError, "c.gz", "gzip")
bad(DS, "idx-gz-garbage", lambda: read_idx(write_file(DS_TMP(), "g.gz", b"not gzip at all")),
    IDXError, "g.gz", "gzip")
bad(DS, "idx-missing", lambda: read_idx(DS_TMP() / "nope"), FileNotFoundError, "nope")
bad(DS, "idx-directory", lambda: read_idx(DS_TMP()), IsADirectoryError, str(os.sep))


def mnist_split(images, labels, cls=MNIST):
    folder = DS_TMP() / "mnist"
    folder.mkdir()
    write_file(folder, "train-images-idx3-ubyte", images)
    write_file(folder, "train-labels-idx1-ubyte", labels)
    return lambda: cls(folder)


for name, images, labels, frags in [
    ("image-size", idx(np.zeros((3, 32, 32), np.uint8)), idx(LAB), ("32x32", "28x28")),
    ("count", idx(IMG), idx(np.zeros(4, np.uint8)), ("3 images", "4 labels")),
    ("label-range", idx(IMG), idx(np.array([0, 1, 10], np.uint8)), ("label 10", "0..9")),
    ("files-swapped", idx(LAB), idx(IMG), ("magic number 2049", "expected 2051")),
    ("labels-2d", idx(IMG), idx(np.zeros((3, 1), np.uint8)), ("magic number 2050",)),
    ("labels-truncated", idx(IMG), idx(LAB)[:-1], ("truncated",)),
]:
    for cls in (MNIST, FashionMNIST):
        bad(DS, f"{cls.__name__}-{name}",
            (lambda i, lab, c: lambda: mnist_split(i, lab, c)())(images, labels, cls), IDXError,
            "ubyte", *frags)
bad(DS, "MNIST-missing", lambda: MNIST(DS_TMP() / "nothing"), FileNotFoundError, "MNIST",
    "train-images-idx3-ubyte", "download=True")


def cifar(obj=None, raw=None):
    path = DS_TMP() / "data_batch_1"
    path.write_bytes(raw if raw is not None else pickle.dumps(obj))
    return load_batch(path)


GOOD = {b"data": np.zeros((2, 3072), np.uint8), b"labels": [0, 1]}
for name, thunk, frags in [
    ("truncated", lambda: cifar(raw=pickle.dumps(GOOD)[:60]), ("truncated",)),
    ("empty", lambda: cifar(raw=b""), ("truncated or corrupt",)),
    ("garbage", lambda: cifar(raw=b"hello world"), ("not a readable CIFAR batch",)),
    ("code", lambda: cifar(raw=b"cos\nsystem\n(S'echo hi'\ntR."), ("refusing to load os.system",)),
    ("list", lambda: cifar([1, 2]), ("expected a pickled dict", "list")),
    ("no-labels", lambda: cifar({b"data": GOOD[b"data"]}), ("lacks", "'labels'")),
    ("data-dtype", lambda: cifar({b"data": np.zeros((2, 3072), np.float32), b"labels": [0, 1]}),
     ("uint8 (N, 3072)", "float32")),
    ("data-shape", lambda: cifar({b"data": np.zeros((2, 3000), np.uint8), b"labels": [0, 1]}),
     ("(N, 3072)", "(2, 3000)")),
    ("data-str", lambda: cifar({b"data": "abc", b"labels": [0]}), ("(N, 3072)",)),
    ("data-ragged", lambda: cifar({b"data": [[1, 2], [3]], b"labels": [0, 1]}), ("'data'",)),
    ("count", lambda: cifar({b"data": GOOD[b"data"], b"labels": [0]}), ("2 images", "1 labels")),
    ("label-range", lambda: cifar({b"data": GOOD[b"data"], b"labels": [0, 12]}), ("0..9", "12")),
    ("label-str", lambda: cifar({b"data": GOOD[b"data"], b"labels": ["a", "b"]}),
     ("'labels'", "integers")),
    ("label-dict", lambda: cifar({b"data": GOOD[b"data"], b"labels": {1: 2}}), ("'labels'",)),
]:
    bad(DS, f"cifar-{name}", thunk, ValueError, "data_batch_1", *frags)
bad(DS, "cifar-missing", lambda: load_batch(DS_TMP() / "nofile"), FileNotFoundError, "nofile")
bad(DS, "CIFAR10-missing", lambda: __import__("chainrule").datasets.CIFAR10(DS_TMP() / "none"),
    FileNotFoundError, "CIFAR10", "data_batch_1", "download=True")


# ---- checkpoints and state dicts -------------------------------------------------------------
CK = "checkpoint"


def small():
    return nn.Sequential(nn.Linear(4, 3), nn.ReLU(), nn.Linear(3, 2))


def saved_checkpoint(step=False, name="a.ckpt"):
    cr.manual_seed(0)
    model = small()
    o = optim.Adam(model.parameters())
    if step:
        o.zero_grad()
        model(cr.randn(2, 4)).sum().backward()
        o.step()
    path = DS_TMP() / name
    save_checkpoint(make_checkpoint(model, o, epoch=1), path)
    return path


def damaged(change):
    def thunk():
        path = saved_checkpoint()
        path.write_bytes(change(path.read_bytes()))
        return load_checkpoint(path)
    return thunk


def flip(data, where):
    return data[:where] + bytes([data[where] ^ 0xFF]) + data[where + 1:]


for name, change, frags in [
    ("truncated-half", lambda d: d[:len(d) // 2], ("truncated",)),
    ("truncated-header", lambda d: d[:20], ("header size field",)),
    ("truncated-to-5-bytes", lambda d: d[:5], ("5 bytes", "truncated or empty")),
    ("empty", lambda d: b"", ("0 bytes",)),
    ("last-byte-missing", lambda d: d[:-1], ("truncated",)),
    ("wrong-magic-size", lambda d: b"\xff" * 8 + d[8:], ("header size field",)),
    ("zero-header-size", lambda d: struct.pack("<Q", 0) + d[8:], ("not valid JSON",)),
    ("flipped-data-byte", lambda d: flip(d, len(d) - 5), ("checksum",)),
    ("flipped-first-data-byte", lambda d: flip(d, 8 + struct.unpack("<Q", d[:8])[0]),
     ("checksum",)),
    ("flipped-header-byte", lambda d: d[:20] + b"}" + d[21:], ("corrupt",)),
    ("pickle", lambda d: pickle.dumps({"model": 1}), ("not a readable safetensors file",)),
    ("zip", lambda d: b"PK\x03\x04" + b"\0" * 100, ("not a readable safetensors file",)),
    ("text", lambda d: b"hello, this is not a checkpoint", ("header size field",)),
]:
    bad(CK, name, damaged(change), CorruptFileError, "a.ckpt", *frags)


def plain_state_dict():
    path = DS_TMP() / "w.safetensors"
    cr.save(small().state_dict(), path)
    return load_checkpoint(path)


bad(CK, "plain-state-dict", plain_state_dict, ValueError, "w.safetensors",
    "not a chainrule checkpoint")
bad(CK, "missing-file", lambda: load_checkpoint(DS_TMP() / "none.ckpt"), FileNotFoundError,
    "none.ckpt")
bad(CK, "directory", lambda: load_checkpoint(DS_TMP()), IsADirectoryError, str(os.sep))


def other():
    return nn.Sequential(nn.Linear(4, 5), nn.ReLU(), nn.Linear(5, 2), nn.Linear(2, 2))


bad(CK, "restore-other-architecture", lambda: restore(load_checkpoint(saved_checkpoint()),
                                                      other()), RuntimeError,
    "Missing key(s)", '"3.weight"', "size mismatch for 0.weight", "(3, 4)", "(5, 4)")
bad(CK, "state-dict-other-architecture", lambda: other().load_state_dict(small().state_dict()),
    RuntimeError, "Sequential", "Missing key(s)", '"3.bias"', "0.weight")
bad(CK, "state-dict-unexpected-keys",
    lambda: small().load_state_dict({**small().state_dict(), "4.weight": cr.ones(2)}),
    RuntimeError, "Unexpected key(s)", '"4.weight"')
bad(CK, "state-dict-other-names", lambda: small().load_state_dict({"weight": cr.ones(3, 4)}),
    RuntimeError, "Missing key(s)", '"0.weight"', "Unexpected key(s)", '"weight"')
bad(CK, "state-dict-not-a-dict", lambda: small().load_state_dict([1, 2]), TypeError,
    "load_state_dict", "list")
bad(CK, "state-dict-ragged-value",
    lambda: small().load_state_dict({**small().state_dict(), "0.bias": [[1], [1, 2]]}),
    RuntimeError, "0.bias")
bad(CK, "state-dict-str-value",
    lambda: small().load_state_dict({**small().state_dict(), "0.bias": "abc"}), RuntimeError,
    "0.bias", "str")
bad(CK, "state-dict-complex-value",
    lambda: small().load_state_dict({**small().state_dict(), "0.bias": np.ones(3, complex)}),
    RuntimeError, "0.bias", "complex128")
bad(CK, "state-dict-none-value",
    lambda: small().load_state_dict({**small().state_dict(), "0.bias": None}), RuntimeError,
    "0.bias", "NoneType")
bad(CK, "optimizer-other-architecture",
    lambda: optim.Adam(other().parameters()).load_state_dict(
        load_checkpoint(saved_checkpoint(step=True))["optimizer"]), ValueError,
    "Adam.load_state_dict", "4 parameters", "6 in the optimizer")
bad(CK, "optimizer-other-type",
    lambda: restore(load_checkpoint(saved_checkpoint(step=True)), small(),
                    optim.SGD(small().parameters(), lr=0.1, momentum=0.9)), ValueError,
    "SGD.load_state_dict", "another optimizer")


def resume_other_architecture():
    from chainrule.data import DataLoader, TensorDataset
    from chainrule.train import fit

    path = saved_checkpoint(name="last.ckpt")
    model = other()
    data = DataLoader(TensorDataset(cr.randn(4, 4), cr.tensor([0, 1, 0, 1])), batch_size=2)
    fit(model, optim.Adam(model.parameters()), nn.CrossEntropyLoss(), data, epochs=2,
        out_dir=path.parent, resume=True, progress=False, plot=False, log=None)


bad(CK, "fit-resume-other-architecture", resume_other_architecture, RuntimeError, "last.ckpt",
    "Missing key(s)", '"3.weight"')


# ---- the audit -------------------------------------------------------------------------------

_TMP = {}


def DS_TMP():
    return _TMP["dir"]


@pytest.fixture
def _tmp_for_cases(tmp_path):
    _TMP["dir"] = tmp_path
    yield
    _TMP.clear()


@pytest.mark.usefixtures("_tmp_for_cases")
@pytest.mark.parametrize("thunk, exc, fragments", CASES)
def test_bad_input_gives_a_clear_error(thunk, exc, fragments):
    with pytest.raises(Exception) as info:
        thunk()
    e, msg = info.value, str(info.value)
    assert isinstance(e, exc), f"expected {exc.__name__}, got {type(e).__name__}: {msg}"
    for fragment in fragments:
        assert fragment in msg, f"{fragment!r} is not in the message: {msg}"
    assert not RAW.search(msg), f"a bare NumPy/Python message: {msg}"
    where = traceback.extract_tb(info.tb)[-1].filename
    assert os.path.abspath(where).startswith(PACKAGE), f"raised outside chainrule, in {where}"


def test_the_audit_is_wide():
    kinds = collections.Counter(p.id.split(":")[0] for p in CASES)
    assert len(CASES) >= 150 and len({p.id for p in CASES}) == len(CASES)
    assert set(kinds) == {"layer", "loss", "optimizer", "scheduler", "dataset", "checkpoint"}
    assert min(kinds.values()) >= 20, kinds
