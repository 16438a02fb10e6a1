"""The architectures of the notes, one file per family."""
from .perceptron import TwoLayerPerceptron, explicit_gradients, log_likelihood

__all__ = ["TwoLayerPerceptron", "explicit_gradients", "log_likelihood"]
from .charrnn import CharRNN, detach_state  # noqa: E402
from .seq2seq import Seq2Seq  # noqa: E402

__all__ += ["CharRNN", "Seq2Seq", "detach_state"]
from .alexnet import AlexNet, alexnet  # noqa: E402
from .googlenet import (BasicConv2d, GoogLeNet, GoogLeNetOutputs, Inception,  # noqa: E402
                        InceptionAux, googlenet)
from .lenet import LeNet5, lenet5  # noqa: E402
from .resnet import (BasicBlock, Bottleneck, PreActBasicBlock, PreActBottleneck,  # noqa: E402
                     ResNet, ZeroPadShortcut, cifar_resnet, preact_resnet18, preact_resnet20,
                     preact_resnet34, preact_resnet50, preact_resnet56, preact_resnet101,
                     preact_resnet110, preact_resnet152, resnet18, resnet20, resnet32, resnet34,
                     resnet44, resnet50, resnet56, resnet101, resnet110, resnet152)
from .vgg import (VGG, vgg11, vgg11_bn, vgg13, vgg13_bn, vgg16, vgg16_bn, vgg19,  # noqa: E402
                  vgg19_bn, vgg_small)

__all__ += ["AlexNet", "alexnet", "BasicConv2d", "GoogLeNet", "GoogLeNetOutputs", "Inception",
            "InceptionAux", "googlenet", "LeNet5", "lenet5", "BasicBlock", "Bottleneck",
            "PreActBasicBlock", "PreActBottleneck", "ResNet", "ZeroPadShortcut", "cifar_resnet",
            "preact_resnet18", "preact_resnet20", "preact_resnet34", "preact_resnet50",
            "preact_resnet56", "preact_resnet101", "preact_resnet110", "preact_resnet152",
            "resnet18", "resnet20", "resnet32", "resnet34", "resnet44", "resnet50", "resnet56",
            "resnet101", "resnet110", "resnet152", "VGG", "vgg11", "vgg11_bn", "vgg13",
            "vgg13_bn", "vgg16", "vgg16_bn", "vgg19", "vgg19_bn", "vgg_small"]
from .dcgan import DCGANDiscriminator, DCGANGenerator, dcgan_init_  # noqa: E402

__all__ += ["DCGANDiscriminator", "DCGANGenerator", "dcgan_init_"]
from .memory_qa import MemoryQA  # noqa: E402

__all__ += ["MemoryQA"]
from .vae import VAE, ConvVAE  # noqa: E402

__all__ += ["VAE", "ConvVAE"]
from .vqa import VQANet  # noqa: E402

__all__ += ["VQANet"]
from .captioner import Captioner  # noqa: E402

__all__ += ["Captioner"]
from .helmholtz import HelmholtzMachine  # noqa: E402

__all__ += ["HelmholtzMachine"]
from .gan_mlp import MLPDiscriminator, MLPGenerator  # noqa: E402

__all__ += ["MLPDiscriminator", "MLPGenerator"]
from .feature_decoder import FeatureDecoder, layer_features, layer_names  # noqa: E402

__all__ += ["FeatureDecoder", "layer_features", "layer_names"]
from .style_content import StyleContentAutoencoder  # noqa: E402

__all__ += ["StyleContentAutoencoder"]
