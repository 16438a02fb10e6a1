"""Whether the real Fashion-MNIST can be read here (Debian's dataset-fashion-mnist package or
data/), and a skip mark for the tests that need it."""
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
