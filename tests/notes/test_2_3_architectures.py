"""Notes 2.3: AlexNet, VGG and the inception net, checked for what the notes state about them.

    AlexNet: 5 convolutional layers and 3 fully connected layers, plus a softmax output layer.
    VGG16 / VGG19: 16 / 19 layers with weights, all filters 3x3, three fully connected layers;
                   VGG19 has 144 million parameters.
    Inception: filters of sizes 1x1, 3x3 and 5x5 and max pooling side by side, 1x1 filters fusing
               the channels at each pixel.
"""
import numpy as np
import pytest

import chainrule as cr
from chainrule import nn
from chainrule.models import Inception, alexnet, vgg16, vgg19

from ..models.cnn_helpers import n_params, no_init
from ._common import close, t


def _layers(net, cls):
    return [m for m in net.modules() if isinstance(m, cls)]


def test_alexnet_has_5_conv_and_3_fc_layers():
    cr.set_default_dtype(cr.float32)
    with no_init():                      # structure only: no random draws for 61M numbers
        net = alexnet(num_classes=10)
    assert len(_layers(net, nn.Conv2d)) == 5
    fcs = _layers(net, nn.Linear)
    assert len(fcs) == 3 and fcs[-1].out_features == 10   # logits for the softmax layer


@pytest.mark.parametrize("make,depth,convs", [(vgg16, 16, 13), (vgg19, 19, 16)])
def test_vgg_layers_and_filters(make, depth, convs):
    cr.set_default_dtype(cr.float32)
    with no_init():
        net = make()
    conv = _layers(net, nn.Conv2d)
    assert len(conv) == convs and len(conv) + len(_layers(net, nn.Linear)) == depth
    assert all(c.kernel_size == (3, 3) for c in conv)
    if depth == 19:
        assert n_params(net) == 143_667_240                  # "144 million parameters"


def test_inception_block_stacks_1x1_3x3_5x5_and_pool_branches():
    """Four branches on the same input, concatenated along the channels, each keeping the map
    size; branch 1 is a 1x1 filter (weighted sum of the channels at one pixel). The third branch
    uses a 3x3 filter where the paper has 5x5 (torchvision's layout, kept for its weights)."""
    cr.manual_seed(0)
    block = Inception(4, 2, 3, 5, 2, 3, 2).eval()
    x = t(np.random.default_rng(0).standard_normal((1, 4, 6, 6)))
    y = block(x)
    assert y.shape == (1, 2 + 5 + 3 + 2, 6, 6)
    parts = [block.branch1(x), block.branch2(x), block.branch3(x), block.branch4(x)]
    close(y, np.concatenate([p.numpy() for p in parts], axis=1))
    sizes = [[c.kernel_size for c in _layers(b, nn.Conv2d)]
             for b in (block.branch1, block.branch2, block.branch3, block.branch4)]
    assert sizes == [[(1, 1)], [(1, 1), (3, 3)], [(1, 1), (3, 3)], [(1, 1)]]
    assert len(_layers(block.branch4, nn.MaxPool2d)) == 1
