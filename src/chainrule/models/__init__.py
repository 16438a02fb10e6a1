"""The architectures of the notes, one file per family."""
from .perceptron import TwoLayerPerceptron, explicit_gradients, log_likelihood

__all__ = ["TwoLayerPerceptron", "explicit_gradients", "log_likelihood"]
