"""Whether the real Fashion-MNIST can be read here (Debian's dataset-fashion-mnist package or
data/), a skip mark for the tests that need it, and a small synthetic stand-in."""
import numpy as np
import pytest


def fashion_mnist_available():
    from chainrule.datasets import FashionMNIST

    try:
        FashionMNIST("data", train=False)
    except FileNotFoundError:
        return False
    return True


requires_fashion_mnist = pytest.mark.skipif(not fashion_mnist_available(),
                                            reason="Fashion-MNIST not installed")


def synthetic_fashion_raw(args, train):
    """Small synthetic 'Fashion-MNIST' as ``(uint8 images (N, 28, 28), int64 labels)``: noise plus
    a bright bar whose place follows the label (labels 0..9 in turn, so the first 10 test images
    hold every class). Takes the place of a recipe's ``_raw(args, train)`` loader."""
    n = 400 if train else 240
    rng = np.random.default_rng(0 if train else 1)
    labels = np.arange(n, dtype=np.int64) % 10
    img = rng.integers(0, 40, (n, 28, 28))
    for i, c in enumerate(labels):
        img[i, 2 * c + 2:2 * c + 8, 4:24] += 200
    return img.astype(np.uint8), labels
