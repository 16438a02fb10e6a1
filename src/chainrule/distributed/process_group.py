"""The process group: which process this is (its rank) among how many (the world size).

Data-parallel training runs the same script in ``P`` processes started by ``mpirun`` (Open MPI,
MPICH); process ``r`` (``0 <= r < P``) reads its ``1/P`` of each batch, and the processes average
their gradients after every backward pass (``chainrule.distributed.DistributedDataParallel``).
Communication goes through MPI's world communicator (``mpi4py``), as in Horovod and ChainerMN.

``mpi4py`` is imported by :func:`init_process_group` only, so ``import chainrule`` never needs it.
Without it, and outside ``mpirun``, the group is the one local process (world size 1: every
reduction returns its input), so a script written for ``mpirun -np 8`` also runs as
``python script.py``.

Example:
    >>> import chainrule.distributed as dist
    >>> dist.init_process_group()          # under mpirun -np 2: rank 0 or 1 of 2
    >>> dist.get_rank(), dist.get_world_size()
    (0, 1)
"""
from __future__ import annotations

import os

import numpy as np

BACKENDS = ("mpi", "local")
# set by launchers: Open MPI, MPICH/Hydra and Intel MPI, PMIx, Slurm's srun
_LAUNCHER_SIZE_VARS = ("OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE", "MPI_LOCALNRANKS")

_group = None


class LocalComm:
    """A communicator of one process, with the calls of an mpi4py communicator that chainrule
    uses: every reduction, broadcast and gather returns (or leaves) its own input."""

    def Get_rank(self):
        return 0

    def Get_size(self):
        return 1

    def Barrier(self):
        pass

    def Allreduce(self, sendbuf, recvbuf, op=None):
        if not _is_in_place(sendbuf):
            np.copyto(recvbuf, sendbuf)

    def Bcast(self, buf, root=0):
        pass

    def bcast(self, obj, root=0):
        return obj

    def allgather(self, obj):
        return [obj]

    def gather(self, obj, root=0):
        return [obj]

    def allreduce(self, obj, op=None):
        return obj

    def Abort(self, errorcode=1):  # pragma: no cover - ends the process
        os._exit(errorcode)


def _is_in_place(buf):
    return buf is None or type(buf).__name__ == "InPlaceType"


class ProcessGroup:
    """The world of processes: ``comm`` (an mpi4py communicator or :class:`LocalComm`), ``rank``,
    ``size`` and ``backend`` ('mpi' or 'local')."""

    def __init__(self, comm, backend):
        self.comm = comm
        self.backend = backend
        self.rank = int(comm.Get_rank())
        self.size = int(comm.Get_size())

    def __repr__(self):
        return f"ProcessGroup(backend={self.backend!r}, rank={self.rank}, size={self.size})"


def _launched_by_mpirun() -> bool:
    for var in _LAUNCHER_SIZE_VARS:
        try:
            if int(os.environ.get(var, "1")) > 1:
                return True
        except ValueError:
            continue
    return False


def init_process_group(backend=None) -> ProcessGroup:
    """Join the group of processes started by ``mpirun`` (idempotent; returns the group).

    Args:
        backend: 'mpi' (mpi4py's ``COMM_WORLD``), 'local' (this process alone, world size 1), or
            None: 'mpi' when mpi4py can be imported, else 'local' -- unless the process was
            started by mpirun with more than one process, where a missing mpi4py is an error
            (each process would otherwise train alone, believing it is the only one).

    Raises:
        ImportError: backend 'mpi' (or a multi-process launch) without mpi4py.
        ValueError: an unknown backend, or a second call asking for another backend.
    """
    global _group
    if backend is not None and backend not in BACKENDS:
        raise ValueError(f"init_process_group: backend must be one of {BACKENDS} or None, got "
                         f"{backend!r}")
    if _group is not None:
        if backend is not None and backend != _group.backend:
            raise ValueError(f"init_process_group: the process group is already initialized "
                             f"with backend {_group.backend!r}; cannot switch to {backend!r}")
        return _group
    if backend != "local":
        try:
            from mpi4py import MPI
        except ImportError as e:
            if backend == "mpi" or _launched_by_mpirun():
                raise ImportError(
                    "init_process_group: data-parallel training needs mpi4py (pip install "
                    "mpi4py, or pip install 'chainrule[mpi]'; it builds against an MPI library "
                    f"such as Open MPI: apt-get install openmpi-bin libopenmpi-dev): {e}") from None
        else:
            _group = ProcessGroup(MPI.COMM_WORLD, "mpi")
            return _group
    _group = ProcessGroup(LocalComm(), "local")
    return _group


def is_initialized() -> bool:
    """Whether :func:`init_process_group` has been called in this process."""
    return _group is not None


def _require(who):
    if _group is None:
        raise RuntimeError(f"{who}: the process group is not initialized; call "
                           f"chainrule.distributed.init_process_group() first")
    return _group


def get_group() -> ProcessGroup:
    """The process group (initialized by :func:`init_process_group`)."""
    return _require("get_group")


def get_rank() -> int:
    """This process's rank, 0 .. world size - 1 (0 is the main process)."""
    return _require("get_rank").rank


def get_world_size() -> int:
    """The number of processes in the group."""
    return _require("get_world_size").size


def is_main_process() -> bool:
    """True on rank 0, the process that prints and writes files (also when not initialized)."""
    return _group is None or _group.rank == 0


def barrier() -> None:
    """Wait until every process of the group has reached this call."""
    _require("barrier").comm.Barrier()


def abort(errorcode: int = 1) -> None:  # pragma: no cover - ends every process
    """End every process of the group (after an error on one of them, which would otherwise
    leave the others waiting forever in their next collective call)."""
    if _group is not None and _group.size > 1:
        _group.comm.Abort(int(errorcode))


def _destroy_process_group():
    """Forget the group (tests): the next :func:`init_process_group` starts afresh."""
    global _group
    _group = None
