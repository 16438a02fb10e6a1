"""LeNet-5 (LeCun et al. 1998), the first convolutional network of the notes' section 2.1, in its
modern form for 28x28 images (MNIST, Fashion-MNIST).

Each convolutional layer computes s = W (x) h + b, that is (notes 2.1)

    s_uvw = sum_ijk W^w_ijk h_{t(u-1)-p+i, t(v-1)-p+j, k} + b^w,

then h = max(s, 0) (the ReLU layer), then a 2x2 max pooling that halves the feature maps; the
fully connected layers at the top are the 1x1-feature-map case of the same formula, and a softmax
layer (notes 2.2, inside ``nn.CrossEntropyLoss``) turns the last layer's K values into
probabilities.
"""
from __future__ import annotations

from .. import nn, ops
from ._image import check_images


class LeNet5(nn.Module):
    """LeNet-5 for 28x28 inputs: two conv + pool stages and three fully connected layers.

    ===========  =================================  ==============
    layer        operation                          output (N, ...)
    ===========  =================================  ==============
    input                                           (C, 28, 28)
    features.0   conv 5x5, padding 2, 6 filters     (6, 28, 28)
    features.1   ReLU  h = max(s, 0)
    features.2   max pool 2x2, stride 2             (6, 14, 14)
    features.3   conv 5x5, 16 filters               (16, 10, 10)
    features.4   ReLU
    features.5   max pool 2x2, stride 2             (16, 5, 5)
    (flatten)                                       (400,)
    classifier   FC 400-120, ReLU, FC 120-84, ReLU, FC 84-K    (K,)
    ===========  =================================  ==============

    This is the modern form: ReLU in place of the scaled tanh, max pooling in place of the
    trainable average-pooling ("sub-sampling") layers, full connections between the 6 and 16
    feature maps (the paper connected each of the 16 maps to a subset of the 6), and a plain
    linear output layer read by softmax in place of the Gaussian (RBF) units. The padding of 2 on
    the first convolution plays the role of the paper's 32x32 input: the 28x28 image fills the
    same 5x5 grid of C3 units at the top.

    Args:
        num_classes: K, the number of outputs (logits).
        in_channels: C, the channels of the input images (1 for grey images).

    Shape: input (N, C, 28, 28) -> logits (N, K). Parameters: 61,706 for C=1, K=10.

    Example::

        >>> net = lenet5()
        >>> net(cr.randn(8, 1, 28, 28)).shape    # (8, 10)
    """

    def __init__(self, num_classes=10, in_channels=1):
        super().__init__()
        self.num_classes, self.in_channels = num_classes, in_channels
        self.features = nn.Sequential(
            nn.Conv2d(in_channels, 6, kernel_size=5, padding=2), nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
            nn.Conv2d(6, 16, kernel_size=5), nn.ReLU(),
            nn.MaxPool2d(kernel_size=2, stride=2),
        )
        self.classifier = nn.Sequential(
            nn.Linear(16 * 5 * 5, 120), nn.ReLU(),
            nn.Linear(120, 84), nn.ReLU(),
            nn.Linear(84, num_classes),
        )

    def forward(self, x):
        check_images(f"lenet5(in_channels={self.in_channels})", x, self.in_channels, (28, 28))
        return self.classifier(ops.flatten(self.features(x), 1))  # (N, 16, 5, 5) -> (N, 400)

    def extra_repr(self):
        return f"num_classes={self.num_classes}, in_channels={self.in_channels}"


def lenet5(num_classes=10, in_channels=1):
    """LeNet-5 for 28x28 images (see ``LeNet5``): conv 5x5 pad 2 -> 6, max pool, conv 5x5 -> 16,
    max pool, FC 120, FC 84, FC ``num_classes``, with ReLU."""
    return LeNet5(num_classes=num_classes, in_channels=in_channels)
