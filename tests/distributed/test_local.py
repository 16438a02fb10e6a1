"""chainrule.distributed in one process (world size 1, no mpirun, no mpi4py needed): the process
group, reductions, DistributedDataParallel's buckets and state dict, the samplers' arithmetic
(against PyTorch's DistributedSampler where torch is installed), fit with a DDP model, rank-0
files and the CLI's errors."""
import numpy as np
import pytest

import chainrule as cr
import chainrule.distributed as dist
from chainrule import nn, optim
from chainrule.data import DataLoader, TensorDataset
from chainrule.distributed import process_group
from chainrule.train import fit


@pytest.fixture
def local():
    process_group._destroy_process_group()
    group = dist.init_process_group("local")
    yield group
    process_group._destroy_process_group()


@pytest.fixture
def uninitialized():
    before = process_group._group
    process_group._group = None
    yield
    process_group._group = before


def _mlp(seed=0):
    cr.manual_seed(seed)
    return nn.Sequential(nn.Linear(5, 7), nn.ReLU(), nn.Linear(7, 3))


def _flat(model):
    return np.concatenate([p.data.ravel() for p in model.parameters()])


# ---- process group -----------------------------------------------------------------------------

def test_not_initialized_raises_naming_the_fix(uninitialized):
    assert not dist.is_initialized()
    assert dist.is_main_process()  # printing and writing work before any init
    for fn in (dist.get_rank, dist.get_world_size, dist.barrier):
        with pytest.raises(RuntimeError, match="init_process_group"):
            fn()
    with pytest.raises(RuntimeError, match="all_reduce_sum: .*init_process_group"):
        dist.all_reduce_sum(1.0)


def test_local_group(local):
    assert dist.is_initialized() and dist.init_process_group() is local  # idempotent
    assert (dist.get_rank(), dist.get_world_size(), dist.is_main_process()) == (0, 1, True)
    assert local.backend == "local"
    dist.barrier()
    with pytest.raises(ValueError, match="already initialized with backend 'local'"):
        dist.init_process_group("mpi")


def test_unknown_backend(uninitialized):
    with pytest.raises(ValueError, match=r"backend must be one of \('mpi', 'local'\)"):
        dist.init_process_group("nccl")


def test_launched_by_mpirun_without_mpi4py_is_an_error(uninitialized, monkeypatch):
    import builtins

    real_import = builtins.__import__

    def no_mpi4py(name, *args, **kwargs):
        if name.startswith("mpi4py"):
            raise ImportError("No module named 'mpi4py'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mpi4py)
    monkeypatch.setenv("OMPI_COMM_WORLD_SIZE", "4")
    with pytest.raises(ImportError, match="needs mpi4py"):
        dist.init_process_group()
    monkeypatch.delenv("OMPI_COMM_WORLD_SIZE")
    for var in process_group._LAUNCHER_SIZE_VARS:
        monkeypatch.delenv(var, raising=False)
    assert dist.init_process_group().backend == "local"  # plain `python script.py`
    process_group._destroy_process_group()


def test_reductions_of_one_process(local):
    assert dist.all_reduce_sum(3) == 3 and isinstance(dist.all_reduce_sum(3), int)
    assert dist.all_reduce_mean(2) == 2.0 and isinstance(dist.all_reduce_mean(2), float)
    arr = np.array([1.5, 2.5], dtype=np.float32)
    out = dist.all_reduce_sum(arr)
    assert out.dtype == np.float32 and out.tolist() == [1.5, 2.5] and out is not arr
    t = dist.all_reduce_mean(cr.tensor([1.0, 2.0]))
    assert isinstance(t, cr.Tensor) and t.tolist() == [1.0, 2.0]
    assert dist.broadcast_object({"a": 1}) == {"a": 1}
    assert dist.all_gather_object(5) == [5]
    with pytest.raises(TypeError, match="all_reduce_sum: expected a number, a numpy array or a "
                                        "Tensor, got str"):
        dist.all_reduce_sum("x")
    with pytest.raises(ValueError, match=r"src must be a rank in \[0, 1\), got 1"):
        dist.broadcast_object(1, src=1)


# ---- DistributedDataParallel ---------------------------------------------------------------------

def test_ddp_of_one_process_trains_as_the_plain_model(local):
    model, ref = _mlp(), _mlp()
    ddp = dist.DistributedDataParallel(model)
    opt = optim.SGD(ddp.parameters(), lr=0.1, momentum=0.9)
    ref_opt = optim.SGD(ref.parameters(), lr=0.1, momentum=0.9)
    x, y = cr.randn(8, 5), cr.randint(0, 3, (8,))
    for _ in range(3):
        for m, o in ((ddp, opt), (ref, ref_opt)):
            o.zero_grad()
            nn.functional.cross_entropy(m(x), y).backward()
            if m is ddp:
                assert not ddp.grads_synced
                ddp.allreduce_gradients()
                assert ddp.grads_synced
            o.step()
    np.testing.assert_array_equal(_flat(model), _flat(ref))
    assert ddp.allreduce_calls == 0  # one process: nothing to send


def test_ddp_state_dict_has_the_module_keys(local):
    model = _mlp()
    ddp = dist.DistributedDataParallel(model)
    assert list(ddp.state_dict()) == list(model.state_dict()) == ["0.weight", "0.bias",
                                                                  "2.weight", "2.bias"]
    assert [n for n, _ in ddp.named_parameters()][0] == "module.0.weight"  # as PyTorch
    other = _mlp(seed=1)
    ddp.load_state_dict({f"module.{k}": v for k, v in other.state_dict().items()})
    np.testing.assert_array_equal(_flat(model), _flat(other))
    ddp.load_state_dict(_mlp(seed=2).state_dict())
    np.testing.assert_array_equal(_flat(model), _flat(_mlp(seed=2)))
    assert dist.unwrap(ddp) is model and dist.unwrap(model) is model
    assert "world_size=1" in repr(ddp)


def test_ddp_buckets_group_parameters_in_reverse_order_by_size(local):
    model = nn.Sequential(nn.Linear(100, 100), nn.Linear(100, 10))  # 40,000 + 400 + 4,000 + 40 B
    ddp = dist.DistributedDataParallel(model, bucket_mb=10_000 / 2 ** 20)
    assert ddp.buckets == [(3, 4440), (1, 40000)]  # 1.bias, 1.weight, 0.bias | 0.weight alone
    one = dist.DistributedDataParallel(_mlp(), bucket_mb=25)
    assert one.buckets == [(4, 4 * (35 + 7 + 21 + 3))]  # the whole model in one bucket
    model64 = _mlp().double()
    assert dist.DistributedDataParallel(model64).buckets[0][1] == 8 * 66  # float64 adds in float64


def test_ddp_errors(local):
    with pytest.raises(TypeError, match="expected an nn.Module to wrap, got list"):
        dist.DistributedDataParallel([1])
    with pytest.raises(ValueError, match="bucket_mb must be a positive number, got 0"):
        dist.DistributedDataParallel(_mlp(), bucket_mb=0)
    with pytest.raises(TypeError, match="already wrapped"):
        dist.DistributedDataParallel(dist.DistributedDataParallel(_mlp()))
    with pytest.raises(TypeError, match="expected a DistributedDataParallel model, got Sequential"):
        dist.DistributedOptimizer(optim.SGD(_mlp().parameters(), lr=0.1), _mlp())


def test_distributed_optimizer_keeps_the_optimizer_and_its_schedulers(local):
    ddp = dist.DistributedDataParallel(_mlp())
    opt = optim.Adam(ddp.parameters(), lr=0.1)
    dopt = dist.DistributedOptimizer(opt, ddp)
    assert dopt is opt and isinstance(opt, optim.Adam) and type(opt).__name__ == "DistributedAdam"
    sched = optim.lr_scheduler.StepLR(opt, step_size=1, gamma=0.5)  # isinstance(Optimizer) holds
    nn.functional.cross_entropy(ddp(cr.randn(4, 5)), cr.tensor([0, 1, 2, 0])).backward()
    assert not ddp.grads_synced
    opt.step()
    assert ddp.grads_synced
    sched.step()
    assert opt.param_groups[0]["lr"] == pytest.approx(0.05)
    assert dist.DistributedOptimizer(opt, ddp) is opt  # wrapping twice changes nothing
    assert set(opt.state_dict()) == set(optim.Adam(_mlp().parameters()).state_dict())


# ---- samplers ----------------------------------------------------------------------------------

@pytest.mark.parametrize("n, p, drop_last", [(10, 3, False), (10, 3, True), (12, 4, False),
                                             (2, 3, False)])
def test_distributed_sampler_arithmetic(n, p, drop_last):
    shards = []
    for r in range(p):
        s = dist.DistributedSampler(range(n), num_replicas=p, rank=r, shuffle=True, seed=1,
                                    drop_last=drop_last)
        s.set_epoch(3)
        shards.append(list(s))
        assert len(s) == len(shards[-1]) == (n // p if drop_last else -(-n // p))
    flat = sum(shards, [])
    if drop_last:
        assert len(set(flat)) == len(flat)  # disjoint
    else:
        assert set(flat) == set(range(n))  # covered; padded with repeats of the start
        assert len(flat) == p * -(-n // p)


def test_distributed_sampler_epochs_and_seeds():
    def order(epoch, seed=0, rank=0):
        s = dist.DistributedSampler(range(20), num_replicas=2, rank=rank, seed=seed)
        s.set_epoch(epoch)
        return list(s)

    assert order(0) == order(0) and order(0) != order(1) and order(0, seed=1) != order(0)
    assert sorted(order(4, rank=0) + order(4, rank=1)) == list(range(20))  # same permutation
    s = dist.DistributedSampler(range(5), num_replicas=2, rank=1, shuffle=False)
    assert list(s) == [1, 3, 0]  # positions 1, 3 and the pad (the start, index 0)


def test_distributed_sampler_matches_pytorch_without_shuffle():
    torch_data = pytest.importorskip("torch.utils.data")
    for n, p, drop_last in [(10, 3, False), (10, 3, True), (7, 2, False)]:
        for r in range(p):
            ours = dist.DistributedSampler(range(n), num_replicas=p, rank=r, shuffle=False,
                                           drop_last=drop_last)
            theirs = torch_data.DistributedSampler(range(n), num_replicas=p, rank=r,
                                                   shuffle=False, drop_last=drop_last)
            assert list(ours) == list(theirs) and len(ours) == len(theirs)


def test_sampler_errors(local):
    with pytest.raises(ValueError, match=r"rank must be an int in \[0, 2\), got 2"):
        dist.DistributedSampler(range(4), num_replicas=2, rank=2)
    with pytest.raises(ValueError, match="num_replicas must be a positive int, got 0"):
        dist.DistributedSampler(range(4), num_replicas=0, rank=0)
    with pytest.raises(ValueError, match="set_epoch: expected an int >= 0, got -1"):
        dist.DistributedSampler(range(4)).set_epoch(-1)
    assert (dist.DistributedSampler(range(4)).num_replicas, dist.DistributedSampler(range(4)).rank
            ) == (1, 0)  # from the process group


def test_eval_sampler_and_shard_loader(local):
    assert list(dist.DistributedEvalSampler(range(7), num_replicas=3, rank=1)) == [1, 4]
    assert len(dist.DistributedEvalSampler(range(7), num_replicas=3, rank=0)) == 3
    ds = TensorDataset(cr.arange(10).float(), cr.arange(10))
    loader = DataLoader(ds, batch_size=4, shuffle=True)
    train = dist.shard_loader(loader, train=True, seed=0, num_replicas=2, rank=1)
    assert isinstance(train.sampler, dist.DistributedSampler) and train.batch_size == 4
    assert [len(y) for _, y in train] == [4, 1]
    val = dist.shard_loader(DataLoader(ds, batch_size=3), train=False, num_replicas=2, rank=0)
    assert [y.tolist() for _, y in val] == [[0, 2, 4], [6, 8]]
    assert dist.shard_loader(None, train=False) is None
    with pytest.raises(TypeError, match="expected a chainrule DataLoader, got list"):
        dist.shard_loader([1], train=True)


# ---- fit, files ----------------------------------------------------------------------------------

def test_fit_with_a_ddp_model_of_one_process_is_the_plain_fit(local, tmp_path):
    x, y = cr.randn(40, 5), cr.randint(0, 3, (40,))

    def run(wrap, out):
        model = _mlp(seed=3)
        m = dist.DistributedDataParallel(model) if wrap else model
        cr.manual_seed(9)
        loader = DataLoader(TensorDataset(x, y), batch_size=8, shuffle=True)
        res = fit(m, optim.Adam(m.parameters(), lr=0.01), nn.CrossEntropyLoss(), loader,
                  DataLoader(TensorDataset(x, y), batch_size=16), epochs=2, out_dir=out,
                  progress=False, plot=False, log=None)
        return model, res

    a, ra = run(False, tmp_path / "a")
    b, rb = run(True, tmp_path / "b")
    np.testing.assert_array_equal(_flat(a), _flat(b))
    strip = [{k: v for k, v in r.items() if k != "seconds"} for r in ra.history]
    assert strip == [{k: v for k, v in r.items() if k != "seconds"} for r in rb.history]
    from chainrule.train import load_checkpoint
    ckpt = load_checkpoint(tmp_path / "b" / "last.ckpt")
    assert len(ckpt["rng_ranks"]) == 1 and list(ckpt["model"]) == list(a.state_dict())
    assert "rng_ranks" not in load_checkpoint(tmp_path / "a" / "last.ckpt")


def test_fit_calls_set_epoch_of_the_sampler(local):
    ds = TensorDataset(cr.randn(12, 5), cr.randint(0, 3, (12,)))
    sampler = dist.DistributedSampler(ds, num_replicas=1, rank=0)
    seen = []
    orig = sampler.set_epoch
    sampler.set_epoch = lambda e: (seen.append(e), orig(e))
    model = dist.DistributedDataParallel(_mlp())
    fit(model, optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(),
        DataLoader(ds, batch_size=4, sampler=sampler), epochs=3, progress=False, log=None)
    assert seen == [0, 1, 2]


def test_fit_resume_reads_through_rank_0(local, tmp_path):
    ds = TensorDataset(cr.randn(12, 5), cr.randint(0, 3, (12,)))
    model = dist.DistributedDataParallel(_mlp())
    with pytest.raises(FileNotFoundError, match=r"no checkpoint to resume from at .*last.ckpt"):
        fit(model, optim.SGD(model.parameters(), lr=0.1), nn.CrossEntropyLoss(),
            DataLoader(ds, batch_size=4), epochs=1, out_dir=tmp_path, resume=True, log=None)


def test_save_and_load_on_main(local, tmp_path):
    path = tmp_path / "w.safetensors"
    assert dist.save_on_main({"w": cr.ones(2)}, path) is True
    assert dist.load_on_main(path)["w"].tolist() == [1.0, 1.0]
    with pytest.raises(FileNotFoundError, match="no such file on rank 0: .*nope"):
        dist.load_on_main(tmp_path / "nope")


def test_checkpoint_from_bytes_names_the_file(tmp_path):
    from chainrule.serialization import CorruptFileError
    from chainrule.train.checkpoint import checkpoint_from_bytes

    with pytest.raises(CorruptFileError, match="'runs/x/last.ckpt'"):
        checkpoint_from_bytes(b"garbage", "runs/x/last.ckpt")
    cr.save({"w": cr.ones(1)}, tmp_path / "plain")
    with pytest.raises(ValueError, match="is not a chainrule checkpoint"):
        checkpoint_from_bytes((tmp_path / "plain").read_bytes(), tmp_path / "plain")


def test_cli_distributed_refuses_recipes_with_their_own_loop(capsys):
    from chainrule.cli import main

    assert main(["train", "charlm", "--distributed", "--epochs", "1"]) == 2
    err = capsys.readouterr().err
    assert "--distributed: recipe 'charlm' runs its own training loop" in err
    assert "mlp" in err and "lenet5" in err
