"""Optimizers of notes 1.3 (SGD with momentum, Adagrad, RMSprop, Adadelta, Adam, AdamW) and
learning-rate schedules (``chainrule.optim.lr_scheduler``), with PyTorch's names and algorithms.

    opt = chainrule.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    sched = chainrule.optim.lr_scheduler.StepLR(opt, step_size=30, gamma=0.1)
"""
from . import lr_scheduler
from .adadelta import Adadelta
from .adagrad import Adagrad
from .adam import Adam
from .adamw import AdamW
from .optimizer import Optimizer
from .rmsprop import RMSprop
from .sgd import SGD

__all__ = ["Optimizer", "SGD", "Adagrad", "RMSprop", "Adadelta", "Adam", "AdamW", "lr_scheduler"]
