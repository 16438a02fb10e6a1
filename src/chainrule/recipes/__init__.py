"""Recipes: complete training runs behind ``chainrule train RECIPE``.

A recipe is a module with

- ``DESCRIPTION``: one line for ``chainrule list``;
- ``DEFAULTS``: its default ``epochs``, ``batch_size``, ``optimizer``, ``lr``, ``scheduler`` and
  ``weight_decay`` (what ``--epochs``, ``--lr``, ... fall back to); optionally ``LR``, a dict
  optimizer name -> learning rate for the other optimizers (else :data:`OPTIMIZERS`' rates);
- ``add_arguments(parser)``: its own options (``--hidden``, ``--dropout``, ...);
- ``build(args) -> Setup``: the model, loss and data loaders for the parsed options;
- optionally ``after_fit(setup, args, result)``: called by ``chainrule train`` after the test
  evaluation, with the trained setup and :func:`chainrule.train.fit`'s result (e.g. to draw the
  learned filters into the run directory ``args.out``).

Recipes whose training is not ``fit``'s (sequence models, ``chainrule.train.seq``) also give
``fit(setup, optimizer, scheduler, args, config) -> FitResult`` (their own loop),
``test(setup, args, split='test') -> dict`` (their measures, printed and put in results.json),
optionally ``MONITOR`` (the record field that picks best.ckpt), a ``clip_grad_norm`` default in
``DEFAULTS``, and ``sample(checkpoint, args) -> str`` for ``chainrule sample``.

Every recipe takes ``--optimizer`` (one of :data:`OPTIMIZERS`, the update rules of notes 1.3) and
``--scheduler`` (one of :data:`SCHEDULERS`), so runs that differ only in the optimizer compare the
rules on the same problem, e.g. ``chainrule train mlp --optimizer rmsprop --out runs/mlp-rmsprop``.
"""
from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import Any, Callable, Optional

RECIPES = {
    "perceptron": "chainrule.recipes.perceptron",
    "mlp": "chainrule.recipes.mlp",
    "lenet5": "chainrule.recipes.lenet5",
    "resnet": "chainrule.recipes.resnet",
    "vgg": "chainrule.recipes.vgg",
    "charlm": "chainrule.recipes.charlm",
    "dates": "chainrule.recipes.dates",
    "addition": "chainrule.recipes.addition",
    "memqa": "chainrule.recipes.memqa",
    "vqa": "chainrule.recipes.vqa",
    "caption": "chainrule.recipes.caption",
    "gan1d": "chainrule.recipes.gan1d",
    "decoder": "chainrule.recipes.decoder",
    "style": "chainrule.recipes.style",
    "dcgan": "chainrule.recipes.dcgan",
    "vae": "chainrule.recipes.vae",
    "wakesleep": "chainrule.recipes.wakesleep",
}

# name -> (the rule, default learning rate)
OPTIMIZERS = {
    "sgd": ("theta -= eta g", 0.1),
    "momentum": ("v = 0.9 v + g, theta -= eta v", 0.05),
    "nesterov": ("momentum 0.9, gradient at the look-ahead point", 0.05),
    "adagrad": ("G += g^2, theta -= eta g / (sqrt(G) + eps)", 0.01),
    "rmsprop": ("G = 0.99 G + 0.01 g^2, theta -= eta g / (sqrt(G) + eps)", 1e-3),
    "adadelta": ("RMSprop of g and of the steps (no learning rate to tune)", 1.0),
    "adam": ("momentum + RMSprop with bias correction", 1e-3),
    "adamw": ("Adam with decoupled weight decay (default 0.01)", 1e-3),
}

SCHEDULERS = {
    "none": "constant learning rate",
    "step": "x0.1 after each third of the epochs (StepLR)",
    "cosine": "cosine from lr down to 0 over the epochs (CosineAnnealingLR)",
    "inverse-time": "Robbins-Monro eta_t = lr / t per epoch t (InverseTimeLR)",
    "plateau": "x0.1 when the validation metric stops improving for 2 epochs (ReduceLROnPlateau)",
}


@dataclass
class Setup:
    """What a recipe's ``build`` returns: everything :func:`chainrule.train.fit` needs."""

    model: Any
    loss_fn: Callable
    train_loader: Any
    val_loader: Optional[Any]
    test_loader: Any


def get_recipe(name):
    """The recipe module called ``name``; a clear error lists the recipes otherwise."""
    if name not in RECIPES:
        raise KeyError(f"unknown recipe {name!r}; the recipes are: {', '.join(RECIPES)}")
    return importlib.import_module(RECIPES[name])


def default_lr(recipe, optimizer: str) -> float:
    """The learning rate for ``optimizer`` when none is given: the recipe's, else the table's."""
    if optimizer == recipe.DEFAULTS["optimizer"]:
        return recipe.DEFAULTS["lr"]
    return getattr(recipe, "LR", {}).get(optimizer, OPTIMIZERS[optimizer][1])


def make_optimizer(name: str, params, lr: float, weight_decay: Optional[float] = None):
    """An optimizer of ``chainrule.optim`` by its command-line name."""
    from .. import optim

    params = list(params)
    wd = weight_decay if weight_decay is not None else (0.01 if name == "adamw" else 0.0)
    if name == "sgd":
        return optim.SGD(params, lr=lr, weight_decay=wd)
    if name == "momentum":
        return optim.SGD(params, lr=lr, momentum=0.9, weight_decay=wd)
    if name == "nesterov":
        return optim.SGD(params, lr=lr, momentum=0.9, nesterov=True, weight_decay=wd)
    if name == "adagrad":
        return optim.Adagrad(params, lr=lr, weight_decay=wd)
    if name == "rmsprop":
        return optim.RMSprop(params, lr=lr, weight_decay=wd)
    if name == "adadelta":
        return optim.Adadelta(params, lr=lr, weight_decay=wd)
    if name == "adam":
        return optim.Adam(params, lr=lr, weight_decay=wd)
    if name == "adamw":
        return optim.AdamW(params, lr=lr, weight_decay=wd)
    raise ValueError(f"unknown optimizer {name!r}; choose from {', '.join(OPTIMIZERS)}")


def make_scheduler(name: str, optimizer, epochs: int, mode: str = "max"):
    """A learning-rate scheduler by its command-line name (stepped once per epoch), or None.

    ``mode`` is the direction of the monitored metric, for 'plateau'.
    """
    from ..optim import lr_scheduler

    if name == "none":
        return None
    if name == "step":
        return lr_scheduler.StepLR(optimizer, step_size=max(1, epochs // 3), gamma=0.1)
    if name == "cosine":
        return lr_scheduler.CosineAnnealingLR(optimizer, T_max=max(1, epochs))
    if name == "inverse-time":
        return lr_scheduler.InverseTimeLR(optimizer)
    if name == "plateau":
        return lr_scheduler.ReduceLROnPlateau(optimizer, mode=mode, factor=0.1, patience=2)
    raise ValueError(f"unknown scheduler {name!r}; choose from {', '.join(SCHEDULERS)}")


def add_fashion_mnist_source(group):
    """``--root`` and ``--download``: where a Fashion-MNIST recipe finds (or fetches) the data."""
    group.add_argument("--root", default="data",
                       help="folder of the Fashion-MNIST IDX files (default data/; "
                            "/usr/share/datasets/fashion-mnist is also searched)")
    group.add_argument("--download", action="store_true",
                       help="download Fashion-MNIST into --root when it is not found")


def limit(arrays, n):
    """The first ``n`` rows of each array (all when ``n`` is None), for quick runs."""
    if n is None:
        return arrays
    if n < 1:
        raise ValueError(f"--limit-train must be at least 1, got {n}")
    return tuple(a[:n] for a in arrays)


def count_parameters(model) -> int:
    return sum(p.numel() for p in model.parameters())
