"""chainrule: the neural networks of the course notes, with hand-derived autodiff on NumPy.

The API follows PyTorch's names: ``import chainrule as cr; x = cr.randn(3, requires_grad=True)``.
"""
from . import backend
from .autograd import enable_grad, no_grad, set_grad_enabled, is_grad_enabled
from .backend import (bool_ as bool, float16, float32, float64, get_default_dtype, int32, int64,
                      manual_seed, set_default_dtype, uint8, initial_seed)
from .creation import (arange, as_tensor, empty, empty_like, eye, from_numpy, full, full_like,
                       linspace, ones, ones_like, rand, rand_like, randint, randn, randn_like,
                       randperm, tensor, zeros, zeros_like)
from .tensor import Tensor
from .parallel import get_num_threads, set_num_threads
from . import ops
from .ops import (abs, add, allclose, amax, amin, argmax, argmin, bmm, cat, chunk, clamp, clip,
                  concat, cos, div, dot, eq, equal, exp, expand, flatten, flip, gather, ge, gt,
                  index_select, isfinite, isinf, isnan, le, log, log1p, log_softmax, logsumexp, lt,
                  masked_fill, matmul, max, maximum, mean, min, minimum, mm, mul, ne, neg, norm,
                  permute, pow, relu, reshape, rsqrt, sigmoid, sign, sin, softmax, split, sqrt,
                  square, squeeze, stack, std, sub, sum, tanh, transpose, unbind, unsqueeze, var,
                  where)
from . import autograd
from . import nn, optim, data, datasets, models  # noqa: E402  (subpackages, as torch.nn, torch.optim)
from .serialization import save, load

long = int64
float = float32
double = float64

__version__ = "0.1.0"
from .creation import from_dlpack  # noqa: E402  (DLPack exchange with NumPy, PyTorch, JAX)
from .serialization import load_safetensors  # noqa: E402  (weights saved by PyTorch)
from . import onnx  # noqa: E402  (chainrule.onnx.export; the onnx package is imported on call)
from . import cuda  # noqa: E402  (chainrule.cuda.is_available(); CuPy backs the "cuda" device)
from .backend import Device, device, get_array_module  # noqa: E402  (devices, array modules)
from . import distributed  # noqa: E402  (data-parallel training over MPI; mpi4py imported on init)
