"""Module: the base class of every layer and network.

A Module owns parameters (learnable leaf Tensors), buffers (state that is saved but not learned,
e.g. batch-norm running means) and submodules, each registered simply by assigning it as an
attribute (``self.fc = Linear(4, 3)``), in the order of assignment. ``forward`` computes the output;
calling the module runs forward (with any hooks). The names follow PyTorch: ``parameters()``,
``named_parameters()`` (dotted names such as ``"encoder.0.weight"``), ``state_dict()``,
``load_state_dict()``, ``train()``/``eval()``, ``zero_grad()``, ``to(dtype)``.

Example::

    class MLP(Module):
        def __init__(self):
            super().__init__()
            self.fc1 = Linear(784, 100)      # registered as "fc1"
            self.fc2 = Linear(100, 10)

        def forward(self, x):                # x: (N, 784) -> (N, 10)
            return self.fc2(self.fc1(x).relu())
"""
from __future__ import annotations

from collections import OrderedDict, namedtuple

import numpy as np

from .. import backend
from ..tensor import Tensor
from .parameter import Parameter

_IncompatibleKeys = namedtuple("IncompatibleKeys", ["missing_keys", "unexpected_keys"])


class RemovableHandle:
    """Returned by ``register_forward_hook``: ``handle.remove()`` takes the hook away."""

    _next_id = 0

    def __init__(self, hooks: dict):
        self._hooks = hooks
        self.id = RemovableHandle._next_id
        RemovableHandle._next_id += 1

    def remove(self) -> None:
        self._hooks.pop(self.id, None)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.remove()


class _NameError(KeyError):
    """A KeyError (as PyTorch raises for bad names) whose message prints without quotes."""

    def __str__(self):
        return str(self.args[0])


def _check_name(owner, kind, name):
    if not isinstance(name, str):
        raise TypeError(f"{owner}: {kind} name should be a string, got {type(name).__name__}")
    if not name:
        raise _NameError(f'{owner}: {kind} name can\'t be empty string ""')
    if "." in name:
        raise _NameError(f'{owner}: {kind} name can\'t contain ".", got {name!r}')


def _addindent(text: str, spaces: int) -> str:
    lines = text.split("\n")
    if len(lines) == 1:
        return text
    pad = " " * spaces
    return lines[0] + "\n" + "\n".join(pad + line for line in lines[1:])


class Module:
    """Base class of layers and networks: subclass it, build the parts in ``__init__`` (after
    ``super().__init__()``) and write ``forward``.

    Attributes:
        training: True in training mode (dropout active, batch norm uses batch statistics);
            set by ``train()`` and ``eval()`` on the whole tree.
    """

    def __init__(self):
        object.__setattr__(self, "training", True)
        object.__setattr__(self, "_parameters", OrderedDict())
        object.__setattr__(self, "_buffers", OrderedDict())
        object.__setattr__(self, "_non_persistent_buffers_set", set())
        object.__setattr__(self, "_modules", OrderedDict())
        object.__setattr__(self, "_forward_pre_hooks", OrderedDict())
        object.__setattr__(self, "_forward_hooks", OrderedDict())

    def forward(self, *args, **kwargs):
        raise NotImplementedError(f'Module [{type(self).__name__}] is missing the required '
                                  f'"forward" function')

    def __call__(self, *args, **kwargs):
        """Run ``forward`` (between the forward pre-hooks and hooks, when there are any)."""
        d = self.__dict__
        if "_forward_hooks" not in d:
            raise RuntimeError(self._no_init_message())
        if not d["_forward_pre_hooks"] and not d["_forward_hooks"]:
            return self.forward(*args, **kwargs)
        for hook in list(d["_forward_pre_hooks"].values()):
            res = hook(self, args)
            if res is not None:
                args = res if isinstance(res, tuple) else (res,)
        out = self.forward(*args, **kwargs)
        for hook in list(d["_forward_hooks"].values()):
            res = hook(self, args, out)
            if res is not None:
                out = res
        return out

    # ---- registration --------------------------------------------------------------------------
    def _no_init_message(self):
        name = type(self).__name__
        return (f"{name}: Module.__init__() was not called; call super().__init__() at the start "
                f"of {name}.__init__, before assigning parameters, buffers or submodules")

    def _require_init(self):
        if "_parameters" not in self.__dict__:
            raise AttributeError(self._no_init_message())

    def register_parameter(self, name: str, param) -> None:
        """Add a parameter (a Parameter, or None for an absent optional one such as a bias)."""
        self._require_init()
        _check_name(type(self).__name__, "parameter", name)
        if hasattr(self, name) and name not in self._parameters:
            raise _NameError(f"{type(self).__name__}: attribute {name!r} already exists")
        if param is not None and not isinstance(param, Parameter):
            raise TypeError(f"{type(self).__name__}: cannot assign {type(param).__name__} object "
                            f"to parameter {name!r} (a chainrule.nn.Parameter or None is expected)")
        self._parameters[name] = param

    def register_buffer(self, name: str, tensor, persistent: bool = True) -> None:
        """Add a buffer: a Tensor that is part of the module's state but not learned (e.g. batch
        norm's running mean). Persistent buffers are saved in ``state_dict``."""
        self._require_init()
        _check_name(type(self).__name__, "buffer", name)
        if hasattr(self, name) and name not in self._buffers:
            raise _NameError(f"{type(self).__name__}: attribute {name!r} already exists")
        if tensor is not None and not isinstance(tensor, Tensor):
            raise TypeError(f"{type(self).__name__}: cannot assign {type(tensor).__name__} object "
                            f"to buffer {name!r} (a Tensor or None is expected)")
        self._buffers[name] = tensor
        if persistent:
            self._non_persistent_buffers_set.discard(name)
        else:
            self._non_persistent_buffers_set.add(name)

    def add_module(self, name: str, module) -> None:
        """Add a submodule (or None) under ``name``."""
        self._require_init()
        if module is not None and not isinstance(module, Module):
            raise TypeError(f"{type(self).__name__}: {type(module).__name__} is not a Module "
                            f"subclass")
        _check_name(type(self).__name__, "module", name)
        if hasattr(self, name) and name not in self._modules:
            raise _NameError(f"{type(self).__name__}: attribute {name!r} already exists")
        self._modules[name] = module

    register_module = add_module

    def __setattr__(self, name, value):
        d = self.__dict__

        def remove_from(*dicts):
            for dd in dicts:
                if name in dd:
                    del dd[name]
            if isinstance(d.get("_non_persistent_buffers_set"), set):
                d["_non_persistent_buffers_set"].discard(name)

        params = d.get("_parameters")
        if isinstance(value, Parameter):
            if params is None:
                raise AttributeError(self._no_init_message())
            remove_from(d, self._buffers, self._modules)
            self.register_parameter(name, value)
        elif params is not None and name in params:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} "
                                f"object to parameter {name!r} (a chainrule.nn.Parameter or None "
                                f"is expected)")
            params[name] = None
        elif isinstance(value, Module):
            if params is None:
                raise AttributeError(self._no_init_message())
            remove_from(d, params, self._buffers)
            self._modules[name] = value
        elif params is not None and name in self._modules:
            if value is not None:
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} "
                                f"object to submodule {name!r} (a Module or None is expected)")
            self._modules[name] = None
        elif params is not None and name in self._buffers:
            if value is not None and not isinstance(value, Tensor):
                raise TypeError(f"{type(self).__name__}: cannot assign {type(value).__name__} "
                                f"object to buffer {name!r} (a Tensor or None is expected)")
            self._buffers[name] = value
        else:
            object.__setattr__(self, name, value)

    def __getattr__(self, name):
        d = self.__dict__
        if "_parameters" not in d:
            if name.startswith("__"):
                raise AttributeError(name)
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r} "
                                 f"({self._no_init_message()})")
        for store in ("_parameters", "_buffers", "_modules"):
            s = d[store]
            if name in s:
                return s[name]
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __delattr__(self, name):
        d = self.__dict__
        for store in ("_parameters", "_buffers", "_modules"):
            if store in d and name in d[store]:
                del d[store][name]
                d["_non_persistent_buffers_set"].discard(name)
                return
        object.__delattr__(self, name)

    def __dir__(self):
        keys = list(super().__dir__())
        for store in ("_parameters", "_buffers", "_modules"):
            keys += list(self.__dict__.get(store, {}))
        return sorted(set(k for k in keys if not k[:1].isdigit()))

    # ---- hooks ---------------------------------------------------------------------------------
    def register_forward_pre_hook(self, hook) -> RemovableHandle:
        """``hook(module, args)`` runs before forward; it may return new args (a tuple or one
        value)."""
        handle = RemovableHandle(self._forward_pre_hooks)
        self._forward_pre_hooks[handle.id] = hook
        return handle

    def register_forward_hook(self, hook) -> RemovableHandle:
        """``hook(module, args, output)`` runs after forward; it may return a replacement output."""
        handle = RemovableHandle(self._forward_hooks)
        self._forward_hooks[handle.id] = hook
        return handle

    # ---- traversal -----------------------------------------------------------------------------
    def named_modules(self, memo=None, prefix: str = "", remove_duplicate: bool = True):
        """(dotted name, module) for this module and every descendant, parents first."""
        if memo is None:
            memo = set()
        if remove_duplicate:
            if id(self) in memo:
                return
            memo.add(id(self))
        yield prefix, self
        for name, m in self._modules.items():
            if m is None:
                continue
            yield from m.named_modules(memo, prefix + ("." if prefix else "") + name,
                                       remove_duplicate)

    def modules(self):
        for _, m in self.named_modules():
            yield m

    def named_children(self):
        """(name, module) for the direct submodules (each module once)."""
        seen = set()
        for name, m in self._modules.items():
            if m is not None and id(m) not in seen:
                seen.add(id(m))
                yield name, m

    def children(self):
        for _, m in self.named_children():
            yield m

    def _named_members(self, store, prefix, recurse, remove_duplicate):
        seen = set()
        mods = self.named_modules(prefix=prefix, remove_duplicate=remove_duplicate) if recurse \
            else [(prefix, self)]
        for mprefix, m in mods:
            for name, t in m.__dict__[store].items():
                if t is None or (remove_duplicate and id(t) in seen):
                    continue
                if remove_duplicate:
                    seen.add(id(t))
                yield mprefix + ("." if mprefix else "") + name, t

    def named_parameters(self, prefix: str = "", recurse: bool = True,
                         remove_duplicate: bool = True):
        """(dotted name, Parameter) pairs, each shared parameter once, in registration order."""
        yield from self._named_members("_parameters", prefix, recurse, remove_duplicate)

    def parameters(self, recurse: bool = True):
        """The Parameters of this module and (with ``recurse``) its descendants, each once."""
        for _, p in self.named_parameters(recurse=recurse):
            yield p

    def named_buffers(self, prefix: str = "", recurse: bool = True, remove_duplicate: bool = True):
        yield from self._named_members("_buffers", prefix, recurse, remove_duplicate)

    def buffers(self, recurse: bool = True):
        for _, b in self.named_buffers(recurse=recurse):
            yield b

    def get_submodule(self, target: str) -> "Module":
        """The submodule at a dotted path such as ``"encoder.layers.0"`` ("" is the module
        itself)."""
        m = self
        if target == "":
            return m
        for part in target.split("."):
            sub = m._modules.get(part) if isinstance(m, Module) else None
            if sub is None:
                raise AttributeError(f"{type(m).__name__} has no submodule {part!r} (looking up "
                                     f"{target!r})")
            m = sub
        return m

    def get_parameter(self, target: str) -> Parameter:
        mod, _, name = target.rpartition(".")
        m = self.get_submodule(mod)
        if name not in m._parameters or m._parameters[name] is None:
            raise AttributeError(f"{type(m).__name__} has no parameter {name!r} (looking up "
                                 f"{target!r})")
        return m._parameters[name]

    # ---- state ---------------------------------------------------------------------------------
    def state_dict(self, *, destination=None, prefix: str = "", keep_vars: bool = False):
        """An OrderedDict from dotted names to Tensors: for each module (parents first), its
        parameters then its persistent buffers. The Tensors share memory with the module's (as
        PyTorch's); ``keep_vars=True`` gives the Parameter objects themselves."""
        if destination is None:
            destination = OrderedDict()
        def value(t):
            return t if keep_vars else Tensor._make(t.data, False, None, 0)

        for name, p in self._parameters.items():
            if p is not None:
                destination[prefix + name] = value(p)
        for name, b in self._buffers.items():
            if b is not None and name not in self._non_persistent_buffers_set:
                destination[prefix + name] = value(b)
        for name, m in self._modules.items():
            if m is not None:
                m.state_dict(destination=destination, prefix=prefix + name + ".",
                             keep_vars=keep_vars)
        return destination

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Copy values (Tensors or NumPy arrays) from ``state_dict`` into this module's parameters
        and persistent buffers, in place (the Parameter objects are kept, so an optimizer built on
        them keeps working); values are converted to each target's dtype.

        Shapes must match. With ``strict`` the keys must match exactly too. Nothing is copied when
        an error is raised; the error lists missing keys, unexpected keys and size mismatches.
        Returns ``(missing_keys, unexpected_keys)``.
        """
        if not hasattr(state_dict, "keys") or not hasattr(state_dict, "__getitem__"):
            raise TypeError(f"load_state_dict: expected a dict of name -> tensor, got "
                            f"{type(state_dict).__name__}")
        own = self.state_dict(keep_vars=True)
        missing = [k for k in own if k not in state_dict]
        unexpected = [k for k in state_dict.keys() if k not in own]
        mismatch, pairs = [], []
        for k, target in own.items():
            if k not in state_dict:
                continue
            v = state_dict[k]
            try:
                arr = v.data if isinstance(v, Tensor) else np.asarray(v)
            except ValueError:  # a ragged list
                arr = np.empty(0, object)
            if arr.dtype.kind not in "biuf":  # None, strings, objects, complex numbers
                what = type(v).__name__ + ("" if v is None or isinstance(v, str) else
                                           f" of dtype {arr.dtype}")
                mismatch.append(f"wrong value for {k}: expected an array of real numbers of "
                                f"shape {tuple(target.data.shape)}, got a {what}.")
            elif arr.shape != target.data.shape:
                mismatch.append(f"size mismatch for {k}: copying a param with shape "
                                f"{tuple(arr.shape)} from checkpoint, the shape in current model "
                                f"is {tuple(target.data.shape)}.")
            else:
                pairs.append((target, arr))
        errors = []
        if strict:
            if missing:
                errors.append("Missing key(s) in state_dict: " + ", ".join(f'"{k}"' for k in
                                                                            missing) + ".")
            if unexpected:
                errors.append("Unexpected key(s) in state_dict: " + ", ".join(
                    f'"{k}"' for k in unexpected) + ".")
        errors += mismatch
        if errors:
            raise RuntimeError(f"Error(s) in loading state_dict for {type(self).__name__}:\n\t"
                               + "\n\t".join(errors))
        for target, arr in pairs:
            if assign:  # the state dict's values, on their own device
                target.data = (np.array(arr, dtype=target.data.dtype) if backend.is_host(arr)
                               else arr.astype(target.data.dtype, copy=True))
            elif type(target.data) is np.ndarray:
                target.data[...] = backend.to_host(arr)
            else:  # a module on a device: the values are copied there
                target.data[...] = backend.asarray_like(target.data, arr, target.data.dtype)
        return _IncompatibleKeys(missing, unexpected)

    # ---- modes, gradients, dtypes --------------------------------------------------------------
    def train(self, mode: bool = True):
        """Set training mode on this module and all descendants (``eval()`` is ``train(False)``)."""
        if not isinstance(mode, bool):
            raise ValueError(f"train: training mode is expected to be a bool, got {mode!r}")
        for m in self.modules():
            object.__setattr__(m, "training", mode)
        return self

    def eval(self):
        return self.train(False)

    def requires_grad_(self, requires_grad: bool = True):
        """Turn gradient recording on or off for every parameter (e.g. to freeze a part)."""
        for p in self.parameters():
            p.requires_grad_(requires_grad)
        return self

    def zero_grad(self, set_to_none: bool = True) -> None:
        """Reset the parameters' gradients: to None (default, as PyTorch 2) or to zeros."""
        for p in self.parameters():
            if set_to_none:
                p.grad = None
            elif p.grad is not None:
                p.grad.data[...] = 0

    def apply(self, fn):
        """Call ``fn(m)`` on every submodule (children first) and on this module; returns self.
        Typical use: custom initialization, ``net.apply(init_weights)``."""
        for m in self.children():
            m.apply(fn)
        fn(self)
        return self

    def to(self, *args, dtype=None, device=None, **kwargs):
        """Move parameters (and their gradients) and buffers to ``device`` ("cpu", "cuda",
        "cuda:1", ...) and/or convert the floating-point ones to ``dtype``, in place: the Parameter
        objects stay the same, so an optimizer made before still updates them. ``to(tensor)``
        takes that tensor's device and dtype."""
        for a in args:
            if isinstance(a, (str, backend.Device)):
                device = a
            elif isinstance(a, Tensor):
                device, dtype = a.device, a.dtype
            elif a is not None:
                dtype = a
        if device is not None:
            try:
                dev = backend.device(device)
                tensors = [t for m in self.modules()
                           for t in list(m._parameters.values()) + list(m._buffers.values())
                           if t is not None]
                for t in tensors:
                    t.data = backend.to_device(t.data, dev)
                    if t.grad is not None:
                        t.grad.data = backend.to_device(t.grad.data, dev)
            except RuntimeError as e:
                raise RuntimeError(f"{type(self).__name__}.to({str(device)!r}): {e}") from None
        if dtype is None:
            return self
        dtype = np.dtype(dtype)
        if dtype.kind != "f":
            raise TypeError(f"{type(self).__name__}.to: only floating-point dtypes are accepted, "
                            f"got {dtype}")
        for m in self.modules():
            for t in list(m._parameters.values()) + list(m._buffers.values()):
                if t is None or t.data.dtype.kind != "f" or t.data.dtype == dtype:
                    continue
                t.data = t.data.astype(dtype)
                if t.grad is not None:
                    t.grad.data = t.grad.data.astype(dtype)
        return self

    def double(self):
        return self.to(np.float64)

    def float(self):
        return self.to(np.float32)

    def half(self):
        return self.to(np.float16)

    def cpu(self):
        """Move every parameter and buffer to the CPU (in place)."""
        return self.to("cpu")

    def cuda(self, device=None):
        """Move every parameter and buffer to GPU ``device`` (an index or "cuda:i"; default 0)."""
        return self.to("cuda" if device is None else
                       (f"cuda:{int(device)}" if isinstance(device, int) else device))

    # ---- printing ------------------------------------------------------------------------------
    def extra_repr(self) -> str:
        """The text inside the parentheses of this module's repr (its settings); '' by default."""
        return ""

    def _get_name(self) -> str:
        return type(self).__name__

    def __repr__(self):
        extra = self.extra_repr()
        lines = extra.split("\n") if extra else []
        for name, m in self._modules.items():
            lines.append(f"({name}): " + _addindent(repr(m), 2))
        if not self._modules:
            return f"{self._get_name()}({extra})"
        return self._get_name() + "(\n" + "\n".join("  " + line for line in lines) + "\n)"
