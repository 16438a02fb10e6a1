"""Data parallelism: every process holds the whole model and averages its gradients with the others.

With ``P`` processes each computing the mean loss of its own ``B`` examples, rank ``r`` has
``g_r = (1/B) sum_{i in batch_r} dL_i/dtheta``. The all-reduce replaces every ``g_r`` by

    g = (1/P) sum_r g_r = (1/(P B)) sum_{i in all P batches} dL_i/dtheta,

the gradient of one batch of ``P B`` examples. The parameters start equal (rank 0's are broadcast
when the model is wrapped) and every rank applies the same update to the same gradient, so they
stay equal, and ``N`` steps on ``P`` ranks with batches of ``B`` are ``N`` steps of one process
with batches of ``P B`` (exactly, up to float rounding, for any optimizer).

The gradients travel in a few large flat *buckets* (``bucket_mb`` megabytes each) rather than
one message per parameter: each bucket is one ``MPI_Allreduce`` of a contiguous array that the
gradients are copied into and back out of.

Design: chainrule's autograd has no gradient hooks, so unlike PyTorch's DDP (which starts the
all-reduce inside ``backward``) the averaging is one explicit call between ``backward`` and
``step`` -- as in Horovod and ChainerMN::

    loss = loss_fn(ddp(x), y)
    loss.backward()
    ddp.allreduce_gradients()      # or: optimizer = DistributedOptimizer(optimizer, ddp)
    optimizer.step()

:func:`DistributedOptimizer` makes it automatic inside ``optimizer.step()``, so a PyTorch-style
loop runs unchanged; ``chainrule.train.fit`` calls ``allreduce_gradients`` itself when it is
given a ``DistributedDataParallel`` model (before gradient clipping, which must see the averaged
gradient).
"""
from __future__ import annotations

import time
from collections import OrderedDict

import numpy as np

from ..autograd import enable_grad, is_grad_enabled
from ..nn.module import Module
from ..tensor import Tensor
from .process_group import init_process_group
from .reduce import _allreduce_inplace


def _bucket_dtype(dtype) -> np.dtype:
    """The dtype a gradient is summed in: float64 stays, every other float adds in float32."""
    return np.dtype(np.float64) if np.dtype(dtype) == np.float64 else np.dtype(np.float32)


class _Bucket:
    """Gradients of some parameters, flattened one after the other into ``buffer``, followed by
    one flag per parameter (1 where the rank has a gradient) so ranks agree on which exist."""

    def __init__(self, params, dtype):
        self.params = list(params)
        self.dtype = np.dtype(dtype)
        sizes = [int(p.data.size) for p in self.params]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        self.numel = int(self.offsets[-1])
        self.buffer = np.empty(self.numel + len(self.params), dtype=self.dtype)

    @property
    def nbytes(self):
        return self.numel * self.dtype.itemsize


def _make_buckets(params, cap_bytes):
    """Group the parameters, in reverse order (PyTorch's: the order backward finishes them),
    into buckets of at most ``cap_bytes`` each (a larger parameter gets a bucket alone)."""
    buckets, open_ = [], {}  # dtype -> (params, bytes)
    for p in reversed(params):
        dt = _bucket_dtype(p.data.dtype)
        nbytes = p.data.size * dt.itemsize
        cur, size = open_.get(dt, ([], 0))
        if cur and size + nbytes > cap_bytes:
            buckets.append(_Bucket(cur, dt))
            cur, size = [], 0
        open_[dt] = (cur + [p], size + nbytes)
    for dt, (cur, _) in open_.items():
        if cur:
            buckets.append(_Bucket(cur, dt))
    return buckets


def _broadcast_tensors(group, tensors, root=0):
    """Overwrite the data of ``tensors`` with rank ``root``'s: one Bcast per dtype."""
    if group.size == 1 or not tensors:
        return
    by_dtype = OrderedDict()
    for t in tensors:
        by_dtype.setdefault(t.data.dtype, []).append(t)
    for dtype, ts in by_dtype.items():
        flat = np.concatenate([t.data.reshape(-1) for t in ts]) if len(ts) > 1 else \
            np.ascontiguousarray(ts[0].data).reshape(-1).copy()
        group.comm.Bcast(flat, root=root)
        start = 0
        for t in ts:
            n = t.data.size
            value = flat[start:start + n].reshape(t.data.shape)
            if t.data.flags.writeable:
                t.data[...] = value
            else:
                t.data = value.copy()
            start += n


def _signature(named):
    return [(name, tuple(t.data.shape), str(t.data.dtype)) for name, t in named]


class DistributedDataParallel(Module):
    """Wrap ``module`` for data-parallel training: equal initial weights, averaged gradients.

    On construction the process group is initialized if needed, every rank checks that its
    model has the same parameters and buffers (names, shapes, dtypes) as rank 0's, and rank 0's
    values are broadcast to all. After ``loss.backward()``, :meth:`allreduce_gradients` (called
    by ``fit`` and :func:`DistributedOptimizer`) replaces each gradient by its mean over the
    ranks; parameters without a gradient on any rank keep ``grad = None``, and one that has a
    gradient on some ranks only gets the mean with zeros for the others.

    Args:
        module: the model (an ``nn.Module``); ``ddp.module`` is it, and ``ddp(x)`` calls it.
        bucket_mb: the size of the flat all-reduce buffers, in MiB (default 25, as PyTorch).
            The MLP 784-512-512-10 (2.6 MB of float32 gradients) is one bucket.
        broadcast_buffers: before each training-mode forward pass with grad on, copy rank 0's
            buffers (batch-norm running statistics) to every rank, as PyTorch does, so every
            rank evaluates and saves the same model.

    State dict: ``ddp.state_dict()`` is ``ddp.module.state_dict()`` -- the module's own keys,
    with no ``module.`` prefix (unlike PyTorch), so a checkpoint of a distributed run loads into
    the plain model (``chainrule eval``, ``model.load_state_dict``). ``load_state_dict`` takes
    the module's keys, or PyTorch DDP's ``module.``-prefixed ones. ``named_parameters()`` names
    them ``module.<name>``, as PyTorch does.

    Attributes:
        allreduce_seconds: total time spent in :meth:`allreduce_gradients` (copies included).
        allreduce_calls: how many all-reduce messages were sent (buckets x steps).

    Example:
        >>> dist.init_process_group()
        >>> ddp = DistributedDataParallel(model)
        >>> loss_fn(ddp(x), y).backward(); ddp.allreduce_gradients(); optimizer.step()
    """

    def __init__(self, module, bucket_mb=25, broadcast_buffers=True):
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DistributedDataParallel: expected an nn.Module to wrap, got "
                            f"{type(module).__name__}")
        if isinstance(module, DistributedDataParallel):
            raise TypeError("DistributedDataParallel: the module is already wrapped")
        if not (isinstance(bucket_mb, (int, float)) and bucket_mb > 0):
            raise ValueError(f"DistributedDataParallel: bucket_mb must be a positive number, got "
                             f"{bucket_mb!r}")
        self.module = module
        self.bucket_mb = bucket_mb
        self.broadcast_buffers = bool(broadcast_buffers)
        self.process_group = init_process_group()
        self.allreduce_seconds = 0.0
        self.allreduce_calls = 0
        self.grads_synced = True
        self._check_same_model()
        _broadcast_tensors(self.process_group, self._state_tensors())
        self._params = [p for p in module.parameters() if p.requires_grad]
        self._buckets = _make_buckets(self._params, int(bucket_mb * 2 ** 20))

    # ---- set-up ---------------------------------------------------------------------------------
    def _state_tensors(self):
        return [p for p in self.module.parameters()] + [b for b in self.module.buffers()]

    def _check_same_model(self):
        group = self.process_group
        if group.size == 1:
            return
        mine = _signature(list(self.module.named_parameters()) +
                          list(self.module.named_buffers()))
        every = group.comm.allgather(mine)
        ref = every[0]
        for rank, sig in enumerate(every):
            if sig == ref:
                continue
            diff = next((f"{a} on rank 0 but {b} on rank {rank}" for a, b in zip(ref, sig)
                         if a != b), f"{len(ref)} tensors on rank 0 but {len(sig)} on rank {rank}")
            raise ValueError(f"DistributedDataParallel: every rank must wrap the same model; "
                             f"(name, shape, dtype) differ: {diff}")

    @property
    def buckets(self) -> list:
        """The all-reduce buckets: a list of (number of parameters, bytes) per bucket."""
        return [(len(b.params), b.nbytes) for b in self._buckets]

    # ---- forward ------------------------------------------------------------------------------
    def forward(self, *args, **kwargs):
        """``module(*args, **kwargs)``; in training mode with grad on, first the buffers of
        rank 0 are copied to every rank (``broadcast_buffers``)."""
        if self.training and is_grad_enabled():
            self.grads_synced = False
            if self.broadcast_buffers and self.process_group.size > 1:
                _broadcast_tensors(self.process_group, list(self.module.buffers()))
        return self.module(*args, **kwargs)

    # ---- gradients ----------------------------------------------------------------------------
    def allreduce_gradients(self) -> None:
        """Replace every parameter's ``.grad`` by its mean over the ranks (call it on every rank,
        after ``backward`` and before ``optimizer.step()``): one Allreduce per bucket."""
        t0 = time.perf_counter()
        group = self.process_group
        if group.size > 1:
            inv = 1.0 / group.size
            for b in self._buckets:
                self._reduce_bucket(group, b, inv)
            self.allreduce_calls += len(self._buckets)
        self.grads_synced = True
        self.allreduce_seconds += time.perf_counter() - t0

    @staticmethod
    def _reduce_bucket(group, b, inv):
        buf, n, off = b.buffer, b.numel, b.offsets
        flags = buf[n:]
        for i, p in enumerate(b.params):
            seg = buf[off[i]:off[i + 1]]
            g = p.grad
            if g is None:
                seg.fill(0)
                flags[i] = 0
            else:
                if g.data.size != seg.size:
                    raise RuntimeError(f"DistributedDataParallel: a gradient of shape "
                                       f"{tuple(g.data.shape)} for a parameter of shape "
                                       f"{tuple(p.data.shape)}")
                seg[...] = g.data.reshape(-1)
                flags[i] = 1
        _allreduce_inplace(group, buf)
        np.multiply(buf[:n], inv, out=buf[:n])
        for i, p in enumerate(b.params):
            if flags[i] == 0:
                continue
            value = buf[off[i]:off[i + 1]].reshape(p.data.shape)
            g = p.grad
            if g is None or not g.data.flags.writeable:
                p.grad = Tensor._make(value.astype(p.data.dtype, copy=True), False, None, 0)
            else:
                np.copyto(g.data, value, casting="unsafe")

    # ---- state dict: the module's own keys ----------------------------------------------------
    def state_dict(self, *, destination=None, prefix: str = "", keep_vars: bool = False):
        """The wrapped module's state dict (its keys, without a ``module.`` prefix)."""
        return self.module.state_dict(destination=destination, prefix=prefix,
                                      keep_vars=keep_vars)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        """Load the module's state dict; keys written by PyTorch's DDP (``module.<name>``) are
        accepted too."""
        keys = list(state_dict.keys())
        if keys and all(k.startswith("module.") for k in keys):
            state_dict = OrderedDict((k[len("module."):], v) for k, v in state_dict.items())
        return self.module.load_state_dict(state_dict, strict=strict, assign=assign)

    def extra_repr(self) -> str:
        g = self.process_group
        return (f"world_size={g.size}, rank={g.rank}, buckets={len(self._buckets)}, "
                f"bucket_mb={self.bucket_mb}")


def unwrap(model):
    """The module inside a :class:`DistributedDataParallel` (the model itself otherwise)."""
    return model.module if isinstance(model, DistributedDataParallel) else model


def DistributedOptimizer(optimizer, model):
    """Make ``optimizer.step()`` average the gradients over the ranks first (as Horovod's).

    ``optimizer`` is changed in place (its class becomes a subclass of its own, so schedulers
    and ``isinstance`` still see it) and returned. ``step`` calls
    ``model.allreduce_gradients()`` unless the gradients were already averaged since the last
    training forward pass (a loop that averages, then clips, then steps averages once).

    Args:
        optimizer: a ``chainrule.optim`` optimizer over ``model.module``'s parameters.
        model: the :class:`DistributedDataParallel` whose gradients to average.

    Example:
        >>> optimizer = DistributedOptimizer(optim.SGD(ddp.parameters(), lr=0.1), ddp)
        >>> loss_fn(ddp(x), y).backward(); optimizer.step()      # gradients averaged
    """
    if not isinstance(model, DistributedDataParallel):
        raise TypeError(f"DistributedOptimizer: expected a DistributedDataParallel model, got "
                        f"{type(model).__name__}")
    base = type(optimizer)
    if getattr(base, "_chainrule_distributed", False):
        optimizer._ddp = model
        return optimizer

    def step(self, closure=None):
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        if not self._ddp.grads_synced:
            self._ddp.allreduce_gradients()
        base.step(self, None)
        return loss

    cls = type(f"Distributed{base.__name__}", (base,),
               {"step": step, "_chainrule_distributed": True, "__module__": base.__module__,
                "__doc__": f"{base.__name__} whose step averages the gradients over the ranks "
                           f"first (chainrule.distributed.DistributedOptimizer)."})
    optimizer.__class__ = cls
    optimizer._ddp = model
    return optimizer
