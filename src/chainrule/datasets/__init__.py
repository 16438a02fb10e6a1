"""Datasets of the notes' experiments, with torchvision's names and arguments.

>>> from chainrule.datasets import FashionMNIST
>>> train = FashionMNIST("data", train=True, download=True)
>>> X_y = train.as_tensor_dataset(flatten=True, normalize=True)   # TensorDataset (60000, 784)

Images come as NumPy-backed Tensors (float32, CHW, in [0, 1]), not PIL images; a ``transform``
receives the raw uint8 array. See ``transforms`` for ToTensor, Normalize, Flatten, Compose.
"""
from . import synthetic, transforms
from ._download import DownloadError
from .cifar import CIFAR10
from .mnist import MNIST, FashionMNIST, IDXError, read_idx

__all__ = ["CIFAR10", "DownloadError", "FashionMNIST", "IDXError", "MNIST", "read_idx",
           "synthetic", "transforms"]
from . import seq_tasks, text  # noqa: E402
from .seq_tasks import Addition, DateTranslation  # noqa: E402
from .text import CharDataset, Vocabulary  # noqa: E402

__all__ += ["Addition", "CharDataset", "DateTranslation", "Vocabulary", "seq_tasks", "text"]
from . import shapes_world  # noqa: E402
from .shapes_world import ShapesWorld  # noqa: E402

__all__ += ["ShapesWorld", "shapes_world"]
from . import story_qa  # noqa: E402
from .story_qa import StoryQA, read_babi, write_babi  # noqa: E402

__all__ += ["StoryQA", "read_babi", "story_qa", "write_babi"]

from . import binarized  # noqa: E402
from .binarized import DynamicBinarized, fixed_binarized  # noqa: E402

__all__ += ["DynamicBinarized", "binarized", "fixed_binarized"]
