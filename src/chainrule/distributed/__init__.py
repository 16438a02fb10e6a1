"""Data-parallel training over MPI (``torch.distributed``'s names; Horovod's and ChainerMN's way).

Run the same script in ``P`` processes; each reads its shard of every batch, and the gradients
are averaged across them after each backward pass::

    import chainrule.distributed as dist
    dist.init_process_group()                      # rank, world size from mpirun
    ddp = dist.DistributedDataParallel(model)      # rank 0's weights on every rank
    sampler = dist.DistributedSampler(train_set, shuffle=True, seed=0)
    loader = DataLoader(train_set, batch_size=128, sampler=sampler)
    for epoch in range(epochs):
        sampler.set_epoch(epoch)
        for x, y in loader:
            optimizer.zero_grad()
            loss_fn(ddp(x), y).backward()
            ddp.allreduce_gradients()              # mean gradient over the ranks
            optimizer.step()
    if dist.is_main_process(): chainrule.save(ddp.state_dict(), "model.safetensors")

    $ mpirun -np 4 python train.py       # or: mpirun -np 4 chainrule train mlp --distributed

``chainrule.train.fit`` does all of this when given a ``DistributedDataParallel`` model (see
docs/distributed.md). mpi4py is imported by :func:`init_process_group` only; without it, and
outside mpirun, the group is this one process (world size 1).
"""
from .process_group import (BACKENDS, LocalComm, ProcessGroup, abort, barrier, get_group,
                            get_rank, get_world_size, init_process_group, is_initialized,
                            is_main_process)
from .reduce import all_gather_object, all_reduce_mean, all_reduce_sum, broadcast_object
from .ddp import DistributedDataParallel, DistributedOptimizer, unwrap
from .sampler import DistributedEvalSampler, DistributedSampler, shard_loader
from .checkpoint import load_on_main, read_bytes_on_main, save_on_main

__all__ = ["BACKENDS", "DistributedDataParallel", "DistributedEvalSampler",
           "DistributedOptimizer", "DistributedSampler", "LocalComm", "ProcessGroup", "abort",
           "all_gather_object", "all_reduce_mean", "all_reduce_sum", "barrier",
           "broadcast_object", "get_group", "get_rank", "get_world_size", "init_process_group",
           "is_initialized", "is_main_process", "load_on_main", "read_bytes_on_main",
           "save_on_main", "shard_loader", "unwrap"]
