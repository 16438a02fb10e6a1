"""Run by test_mpi.py as ``mpirun -np 2 python _mpi_worker.py OUT``: every check of data-parallel
training that needs several processes, in one launch; each rank writes what it measured to
OUT/rank<r>.json and test_mpi.py asserts on it."""
import json
import os
import sys

import numpy as np

import chainrule as cr
import chainrule.distributed as dist
from chainrule import nn, optim
from chainrule.data import DataLoader, TensorDataset
from chainrule.train import evaluate, fit

OUT = sys.argv[1]
group = dist.init_process_group()
RANK, P = group.rank, group.size
res = {"rank": RANK, "world_size": P, "backend": group.backend}


def flat(model):
    return np.concatenate([p.data.ravel() for p in model.parameters()])


def spread(model):
    """max |theta_rank - theta_rank0| over the ranks (the same on every rank)."""
    every = dist.all_gather_object(flat(model))
    return float(max(np.abs(w - every[0]).max() for w in every))


def mlp(seed, dropout=0.0, bn=False):
    cr.manual_seed(seed)
    layers = [nn.Linear(6, 16)] + ([nn.BatchNorm1d(16)] if bn else []) + [nn.ReLU()]
    if dropout:
        layers.append(nn.Dropout(dropout))
    return nn.Sequential(*layers, nn.Linear(16, 3))


rng = np.random.default_rng(42)  # the same data on every rank
X = rng.standard_normal((96, 6)).astype(np.float32)
Y = rng.integers(0, 3, 96).astype(np.int64)
data = TensorDataset(cr.tensor(X), cr.tensor(Y))
loss_fn = nn.CrossEntropyLoss()

# ---- 1. ranks seeded differently start equal and stay equal after every step (Adam, BN, dropout)
model = mlp(seed=100 + RANK, dropout=0.3, bn=True)
ddp = dist.DistributedDataParallel(model, bucket_mb=0.0002)  # 209 bytes: several buckets
res["buckets"] = ddp.buckets
res["spread_init"] = spread(model)
opt = optim.Adam(ddp.parameters(), lr=1e-2)
cr.manual_seed(7 + RANK)  # different dropout masks per rank
loader = DataLoader(data, batch_size=8, sampler=dist.DistributedSampler(data, seed=3))
spreads = []
for x, y in loader:
    opt.zero_grad()
    loss_fn(ddp(x), y).backward()
    ddp.allreduce_gradients()
    opt.step()
    spreads.append(spread(model))
res["spread_steps"] = spreads
res["allreduce_calls"] = ddp.allreduce_calls

# ---- 2. N steps of P ranks with batch B == N steps of one process with batch P*B (plain SGD)
B, N = 8, 5
model = mlp(seed=1)
ddp = dist.DistributedDataParallel(model)
opt = optim.SGD(ddp.parameters(), lr=0.5)
loader = DataLoader(data, batch_size=B, sampler=dist.DistributedSampler(data, shuffle=False))
for step, (x, y) in enumerate(loader):
    if step == N:
        break
    opt.zero_grad()
    loss_fn(ddp(x), y).backward()
    ddp.allreduce_gradients()
    opt.step()
ref = mlp(seed=1)  # one process, batch P*B, on this rank
ref_opt = optim.SGD(ref.parameters(), lr=0.5)
for step, (x, y) in enumerate(DataLoader(data, batch_size=P * B)):
    if step == N:
        break
    ref_opt.zero_grad()
    loss_fn(ref(x), y).backward()
    ref_opt.step()
res["equiv_maxdiff"] = float(np.abs(flat(model) - flat(ref)).max())
res["equiv_moved"] = float(np.abs(flat(ref) - flat(mlp(seed=1))).max())

# ---- 3. DistributedOptimizer: step() averages, exactly as the explicit call
model2 = mlp(seed=1)
ddp2 = dist.DistributedDataParallel(model2)
opt2 = dist.DistributedOptimizer(optim.SGD(ddp2.parameters(), lr=0.5), ddp2)
for step, (x, y) in enumerate(loader):
    if step == N:
        break
    opt2.zero_grad()
    loss_fn(ddp2(x), y).backward()
    opt2.step()
res["distopt_maxdiff"] = float(np.abs(flat(model2) - flat(model)).max())
res["distopt_isinstance"] = isinstance(opt2, optim.SGD)

# ---- 4. the sampler: shards disjoint, together the whole set (N divisible, and padded)
for n in (96, 7):
    s = dist.DistributedSampler(range(n), shuffle=True, seed=5)
    s.set_epoch(2)
    res[f"shard_{n}"] = list(map(int, s))
res["eval_shard_7"] = list(map(int, dist.DistributedEvalSampler(range(7))))

# ---- 5. reductions and broadcast
res["sum_int"] = dist.all_reduce_sum(RANK + 1)
res["mean_float"] = dist.all_reduce_mean(float(RANK))
res["sum_array"] = dist.all_reduce_sum(np.array([1.0, RANK], dtype=np.float32)).tolist()
res["bcast"] = dist.broadcast_object({"from": RANK})

# ---- 6. fit: rank 0 alone writes; metrics of the whole data; resume equals an unbroken run
def run(out_dir, epochs, resume=False):
    model = mlp(seed=11, dropout=0.2)
    ddp = dist.DistributedDataParallel(model)
    opt = optim.Adam(ddp.parameters(), lr=1e-2)
    cr.manual_seed(20 + RANK)
    train = dist.shard_loader(DataLoader(data, batch_size=8, shuffle=True), train=True, seed=4)
    val = dist.shard_loader(DataLoader(TensorDataset(cr.tensor(X[:37]), cr.tensor(Y[:37])),
                                       batch_size=5), train=False)
    result = fit(ddp, opt, loss_fn, train, val, epochs=epochs, out_dir=out_dir, resume=resume,
                 progress=False, plot=False, log=None)
    return model, result


per_rank = os.path.join(OUT, f"fit_rank{RANK}")  # each rank its own folder: only rank 0's fills
model_a, result_a = run(per_rank + "_a", epochs=3)
run(per_rank + "_b", epochs=2)
model_b, result_b = run(per_rank + "_b", epochs=3, resume=True)
res["fit_files"] = sorted(os.listdir(per_rank + "_a")) if os.path.isdir(per_rank + "_a") else None
res["resume_maxdiff"] = float(np.abs(flat(model_a) - flat(model_b)).max())
res["history"] = [{k: v for k, v in r.items() if k != "seconds"} for r in result_a.history]
val_full = evaluate(model_a, loss_fn, DataLoader(TensorDataset(cr.tensor(X[:37]),
                                                               cr.tensor(Y[:37])), batch_size=37))
res["val_full"] = val_full

with open(os.path.join(OUT, f"rank{RANK}.json"), "w") as f:
    json.dump(res, f)
