"""The ``chainrule`` command: train a recipe, evaluate a checkpoint, list the recipes.

    chainrule list
    chainrule train RECIPE [--epochs N] [--lr LR] [--optimizer NAME] [--scheduler NAME] ...
    chainrule train RECIPE --resume          # continue RECIPE's run in --out from last.ckpt
    chainrule eval runs/RECIPE/best.ckpt     # test loss and accuracy of a checkpoint
    chainrule sample runs/charlm/best.ckpt [--length N --temperature T --top-k K --prime TEXT]
    chainrule sample runs/dates/best.ckpt --input "the 3rd of march 1999"
    mpirun -np 4 chainrule train mlp --distributed   # data-parallel over 4 processes (MPI)

A training run writes into ``--out`` (default ``runs/RECIPE``): ``config.json`` (every setting),
``log.csv`` (one row per epoch), ``curves.png``, ``last.ckpt`` (after every epoch), ``best.ckpt``
(best validation accuracy) and ``results.json`` (test loss and accuracy at the end).

Recipes of sequence models (charlm, dates, addition) run their own loop (``recipe.fit``, see
``chainrule.train.seq``) and measure (``recipe.test``: bits per character, exact match); their
checkpoints hold the vocabularies, so ``chainrule sample`` needs nothing but the checkpoint.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

from . import recipes
from .recipes import OPTIMIZERS, RECIPES, SCHEDULERS

COMMON = ("epochs", "lr", "batch_size", "optimizer", "scheduler", "weight_decay")
NOT_CONFIG = ("command", "resume", "progress", "plot",  # run-time switches, not the run's settings
              "distributed", "world_size")


class CLIError(Exception):
    """A user error: printed as ``chainrule: error: ...`` without a traceback."""


# ---- parsers ---------------------------------------------------------------------------------

def _add_common_options(p, recipe):
    d = recipe.DEFAULTS
    lrs = ", ".join(f"{o} {recipes.default_lr(recipe, o):g}" for o in OPTIMIZERS)
    g = p.add_argument_group("training")
    g.add_argument("--epochs", type=int, help=f"number of epochs (default {d['epochs']})")
    g.add_argument("--lr", type=float, help=f"learning rate (default by optimizer: {lrs})")
    g.add_argument("--batch-size", type=int, help=f"mini-batch size (default {d['batch_size']})")
    g.add_argument("--optimizer", choices=list(OPTIMIZERS),
                   help=f"update rule, notes 1.3 (default {d['optimizer']})")
    g.add_argument("--scheduler", choices=list(SCHEDULERS),
                   help=f"learning-rate schedule (default {d['scheduler']})")
    g.add_argument("--weight-decay", type=float,
                   help=f"L2 penalty, decoupled for adamw (default {d['weight_decay']:g}; "
                        f"0.01 for adamw)")
    clip = d.get("clip_grad_norm")
    g.add_argument("--clip-grad-norm", type=float, default=None, metavar="MAX",
                   help="clip the gradients' total L2 norm to MAX" +
                        (f" (default {clip:g})" if clip is not None else ""))
    g.add_argument("--seed", type=int, default=0,
                   help="seed of initialization, shuffling and dropout (default 0)")
    g.add_argument("--limit-train", type=int, default=None, metavar="N",
                   help="use only the first N training examples (quick runs, tests)")
    r = p.add_argument_group("run")
    r.add_argument("--out", default=None, help="run directory (default runs/RECIPE)")
    r.add_argument("--resume", action="store_true",
                   help="continue the run in --out from its last.ckpt, with its settings "
                        "(a larger --epochs extends it; the schedule keeps its length)")
    r.add_argument("--no-progress", dest="progress", action="store_false",
                   help="no progress bar (it is shown only on a terminal anyway)")
    r.add_argument("--no-plot", dest="plot", action="store_false",
                   help="do not draw curves.png")
    r.add_argument("--distributed", action="store_true",
                   help="data-parallel training over MPI: start with `mpirun -np N chainrule "
                        "train RECIPE --distributed`; --batch-size is per process (N times it "
                        "per step), the learning rate is not scaled (docs/distributed.md)")


def _recipe_parser(name, prog=None, add_help=True):
    recipe = recipes.get_recipe(name)
    p = argparse.ArgumentParser(prog=prog or f"chainrule train {name}", add_help=add_help,
                                description=f"{name}: {recipe.DESCRIPTION}")
    _add_common_options(p, recipe)
    recipe.add_arguments(p)
    return p


def build_parser():
    p = argparse.ArgumentParser(
        prog="chainrule",
        description="Train and evaluate the networks of the course notes 'Neural networks'.",
        epilog="Examples:\n  chainrule list\n  chainrule train perceptron\n"
               "  chainrule train mlp --optimizer sgd --lr 0.05 --out runs/mlp-sgd\n"
               "  chainrule train mlp --resume\n  chainrule eval runs/mlp/best.ckpt\n"
               "  chainrule train charlm --text input.txt\n"
               "  chainrule sample runs/charlm/best.ckpt --prime 'The ' --temperature 0.7",
        formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    sub.add_parser("list", help="the recipes and the optimizers and schedules they take")
    t = sub.add_parser("train", help="train a recipe (chainrule train RECIPE --help)",
                       description="Train a recipe; `chainrule train RECIPE --help` shows its "
                                   "options.")
    rsub = t.add_subparsers(dest="recipe", metavar="RECIPE", required=True)
    for name in RECIPES:
        recipe = recipes.get_recipe(name)
        rp = rsub.add_parser(name, help=recipe.DESCRIPTION, description=recipe.DESCRIPTION)
        _add_common_options(rp, recipe)
        recipe.add_arguments(rp)
    e = sub.add_parser("eval", help="test loss and accuracy of a checkpoint",
                       description="Rebuild the checkpoint's model from the settings stored in "
                                   "it and evaluate it. Options of its recipe (e.g. --root) may "
                                   "follow and override the stored ones.")
    e.add_argument("checkpoint", help="a last.ckpt or best.ckpt written by `chainrule train`")
    e.add_argument("--split", choices=("test", "val", "train"), default="test",
                   help="which data to evaluate on (default test)")
    s = sub.add_parser("sample", help="generate text with a charlm checkpoint, translate "
                                      "with a dates/addition one, or draw an image grid from "
                                      "a generator's",
                       description="Generate text with a charlm checkpoint (the prime, then "
                                   "--length characters drawn one at a time), translate the "
                                   "--input sources with a dates or addition checkpoint, or "
                                   "write a grid of --num samples of an image generator "
                                   "(vae, dcgan, ...) to --out.")
    s.add_argument("checkpoint", help="a last.ckpt or best.ckpt written by `chainrule train`")
    s.add_argument("--length", type=int, default=500,
                   help="characters to generate (default 500)")
    s.add_argument("--temperature", type=float, default=0.8,
                   help="divides the logits: lower is safer, 0 takes the most likely "
                        "character (default 0.8)")
    s.add_argument("--top-k", type=int, default=None, metavar="K",
                   help="draw among the K most likely characters only")
    s.add_argument("--prime", default=None, metavar="TEXT",
                   help="text the model reads first and continues (default: a newline)")
    s.add_argument("--seed", type=int, default=0,
                   help="seed of the draws: the same seed writes the same text (default 0)")
    s.add_argument("--input", action="append", default=[], metavar="TEXT",
                   help="a source to translate (dates, addition; repeatable)")
    s.add_argument("--beam-width", type=int, default=1, metavar="K",
                   help="translate by beam search of width K instead of greedy decoding")
    s.add_argument("--out", default=None, metavar="PNG",
                   help="image generators (vae, dcgan, ...): where to write the sample grid "
                        "(default: samples.png beside the checkpoint)")
    s.add_argument("--num", type=int, default=64, metavar="N",
                   help="image generators: how many samples the grid holds (default 64)")
    return p


# ---- commands --------------------------------------------------------------------------------

def cmd_list(args) -> int:
    width = max(map(len, RECIPES))
    print("recipes (chainrule train RECIPE --help for the options):")
    for name in RECIPES:
        r = recipes.get_recipe(name)
        d = r.DEFAULTS
        print(f"  {name:<{width}}  {r.DESCRIPTION}")
        print(f"  {'':<{width}}  defaults: {d['epochs']} epochs, batch {d['batch_size']}, "
              f"{d['optimizer']} lr {d['lr']:g}, schedule {d['scheduler']}")
    print("\noptimizers (--optimizer; run a recipe once per optimizer to compare them, "
          "e.g. --out runs/mlp-sgd):")
    for name, (rule, _) in OPTIMIZERS.items():
        print(f"  {name:<9} {rule}")
    print("\nschedules (--scheduler):")
    for name, what in SCHEDULERS.items():
        print(f"  {name:<13} {what}")
    return 0


def _resume_settings(args, parser_defaults):
    """On --resume, the settings of the checkpoint's run, except --epochs and switches given now."""
    from .train.checkpoint import load_checkpoint

    path = os.path.join(args.out, "last.ckpt")
    if not os.path.exists(path):
        raise CLIError(f"--resume: there is no checkpoint {path} to continue (train without "
                       f"--resume to start, or give the run's --out)")
    config = load_checkpoint(path)["config"]
    if config.get("recipe") != args.recipe:
        raise CLIError(f"--resume: {path} is a run of recipe {config.get('recipe')!r}, not "
                       f"{args.recipe!r}")
    for key, value in config.items():
        given = getattr(args, key, None)
        if key in ("epochs", "out") or key in NOT_CONFIG:
            continue
        if given not in (None, parser_defaults.get(key)) and given != value:
            print(f"note: --{key.replace('_', '-')} {given} is ignored; the resumed run keeps "
                  f"{value}")
        setattr(args, key, value)
    if args.epochs is None:
        args.epochs = config["epochs"]


def _resolve_defaults(recipe, args):
    d = recipe.DEFAULTS
    for key in ("epochs", "batch_size", "optimizer", "scheduler"):
        if getattr(args, key) is None:
            setattr(args, key, d[key])
    if getattr(args, "clip_grad_norm", None) is None:
        args.clip_grad_norm = d.get("clip_grad_norm")
    if args.lr is None:
        args.lr = recipes.default_lr(recipe, args.optimizer)
    if args.weight_decay is None:
        args.weight_decay = 0.01 if args.optimizer == "adamw" else d["weight_decay"]
    if args.epochs < 0 or args.batch_size < 1:
        raise CLIError(f"--epochs must be >= 0 and --batch-size >= 1, got {args.epochs} and "
                       f"{args.batch_size}")


def _write_json(path, obj):
    from .serialization import _atomic_write

    _atomic_write(path, (json.dumps(obj, indent=2) + "\n").encode(), who="chainrule")


def _init_distributed(args, recipe):
    """The process group of a --distributed run (None without --distributed)."""
    if not getattr(args, "distributed", False):
        return None
    if hasattr(recipe, "fit"):
        able = [n for n in RECIPES if not hasattr(recipes.get_recipe(n), "fit")]
        raise CLIError(f"--distributed: recipe {args.recipe!r} runs its own training loop; "
                       f"data-parallel training works with the recipes trained by "
                       f"chainrule.train.fit: {', '.join(able)}")
    from .distributed import init_process_group

    try:
        return init_process_group()
    except ImportError as e:
        raise CLIError(str(e)) from None


def _on_main(group, fn):
    """``fn()`` run by rank 0 and its result (or its CLIError) given to every rank."""
    if group is None or group.size == 1:
        return fn()
    from .distributed import broadcast_object

    out = None
    if group.rank == 0:
        try:
            out = ("ok", fn())
        except CLIError as e:
            out = ("error", str(e))
    out = broadcast_object(out)
    if out[0] == "error":
        err = CLIError(out[1])
        err.on_every_rank = True  # every rank stops alike: no MPI_Abort needed
        raise err
    return out[1]


def _distribute(setup, args, group):
    """The setup of one rank: the model wrapped in DistributedDataParallel (rank 0's initial
    weights), the training set sharded by a DistributedSampler, validation and test sets split
    among the ranks for evaluation, and a random stream of its own for dropout and augmentation.
    """
    import numpy as np

    import chainrule as cr
    from .distributed import DistributedDataParallel, shard_loader

    ddp = DistributedDataParallel(setup.model)
    if group.rank > 0:  # rank 0 keeps the stream of --seed
        cr.manual_seed(int(np.random.SeedSequence([args.seed, group.rank]).generate_state(1)[0]))
    try:
        loaders = [shard_loader(setup.train_loader, train=True, seed=args.seed),
                   shard_loader(setup.val_loader, train=False),
                   shard_loader(setup.test_loader, train=False)]
    except (TypeError, ValueError) as e:
        raise CLIError(f"--distributed: recipe {args.recipe!r}: {e}") from None
    return recipes.Setup(ddp, setup.loss_fn, *loaders)


def cmd_train(args, parser_defaults) -> int:
    import chainrule as cr
    from .train import evaluate, fit

    recipe = recipes.get_recipe(args.recipe)
    group = _init_distributed(args, recipe)
    main_rank = group is None or group.rank == 0
    say = print if main_rank else (lambda *a, **k: None)
    args.out = args.out or os.path.join("runs", args.recipe)
    if args.resume:
        if group is None:
            _resume_settings(args, parser_defaults)
        else:  # rank 0 reads the checkpoint's settings and sends them to the others
            vars(args).update(_on_main(group, lambda: (_resume_settings(args, parser_defaults),
                                                       dict(vars(args)))[1]))
    _resolve_defaults(recipe, args)
    config = {k: v for k, v in vars(args).items() if k not in NOT_CONFIG}
    if group is not None:
        config["world_size"] = group.size

    cr.manual_seed(args.seed)
    setup = plain = recipe.build(args)
    if group is not None:
        setup = _distribute(plain, args, group)
    optimizer = recipes.make_optimizer(args.optimizer, setup.model.parameters(), args.lr,
                                       args.weight_decay)
    custom = hasattr(recipe, "fit")  # sequence recipes run their own loop (train.seq)
    monitor = getattr(recipe, "MONITOR", None) or (
        "val_acc" if setup.val_loader is not None else "train_acc")  # best.ckpt, plateau
    scheduler = recipes.make_scheduler(args.scheduler, optimizer, args.epochs,
                                       mode="min" if monitor.endswith("loss") else "max")
    n_params = recipes.count_parameters(plain.model)
    say(f"{args.recipe}: {n_params:,} parameters; {args.optimizer} lr {args.lr:g}, "
        f"schedule {args.scheduler}, batch {args.batch_size}, {args.epochs} epochs, "
        f"seed {args.seed} -> {args.out}")
    if group is not None:
        say(f"distributed: {group.size} process{'es' if group.size > 1 else ''} "
            f"({group.backend}), batch {args.batch_size} per process = "
            f"{group.size * args.batch_size} per step; gradients averaged over the processes")
    if main_rank:
        os.makedirs(args.out, exist_ok=True)
        _write_json(os.path.join(args.out, "config.json"), config)
    try:
        if custom:
            result = recipe.fit(setup, optimizer, scheduler, args, config)
        else:
            result = fit(setup.model, optimizer, setup.loss_fn, setup.train_loader,
                         setup.val_loader, epochs=args.epochs, scheduler=scheduler,
                         out_dir=args.out, resume=args.resume,
                         clip_grad_norm=args.clip_grad_norm, progress=args.progress,
                         plot=args.plot, config=config, monitor=monitor)
    except KeyboardInterrupt:
        if main_rank:
            print(f"\ninterrupted; continue with: chainrule train {args.recipe} --out "
                  f"{args.out} --resume", file=sys.stderr)
        return 130
    best = result.best
    if custom:  # the recipe's own measures (bits per character, exact match), printed by it
        if best.get("value") is not None:
            print(f"best {best['metric']} {best['value']:.4f} at epoch {best['epoch']}")
        summary = {"recipe": args.recipe, "epochs": len(result.history),
                   **recipe.test(setup, args), "best": best}
        _write_json(os.path.join(args.out, "results.json"), summary)
        if hasattr(recipe, "after_fit"):
            recipe.after_fit(setup, args, result)
        return 0
    test = evaluate(setup.model, setup.loss_fn, setup.test_loader)  # reduced over the ranks
    if not main_rank:
        return 0
    summary = {"recipe": args.recipe, "epochs": len(result.history), "test_loss": test["loss"],
               "test_acc": test["accuracy"], "best": best}
    if group is not None:
        summary["world_size"] = group.size
    _write_json(os.path.join(args.out, "results.json"), summary)
    if best.get("value") is not None:
        print(f"best {best['metric']} {best['value']:.4f} at epoch {best['epoch']}")
    print(f"test loss {test['loss']:.4f}  test accuracy {100 * test['accuracy']:.2f}%")
    if hasattr(recipe, "after_fit"):  # the recipe's own figures of the trained model
        recipe.after_fit(plain, args, result)
    return 0


def _train_or_abort(args, defaults) -> int:
    """cmd_train; in a --distributed run of several processes, an error on one rank ends them
    all (MPI_Abort), as the others would wait for it forever in their next collective call."""
    from . import distributed

    try:
        rc = cmd_train(args, defaults)
    except BaseException as e:
        if not (getattr(args, "distributed", False) and distributed.is_initialized()
                and distributed.get_world_size() > 1) or isinstance(e, SystemExit):
            raise
        import traceback

        rank, size = distributed.get_rank(), distributed.get_world_size()
        if getattr(e, "on_every_rank", False):  # the same error on every rank: say it once
            if rank == 0:
                print(f"chainrule: error: {e}", file=sys.stderr)
            return 2
        if isinstance(e, (CLIError, OSError)):
            print(f"chainrule: error (rank {rank} of {size}): {e}", file=sys.stderr)
        else:
            traceback.print_exc()
        sys.stderr.flush()
        distributed.abort(2 if isinstance(e, (CLIError, OSError)) else 1)
        raise
    return rc


def cmd_eval(args, extra) -> int:
    import chainrule as cr
    from .train import evaluate
    from .train.checkpoint import load_checkpoint

    if not os.path.exists(args.checkpoint):
        raise CLIError(f"eval: no such checkpoint: {args.checkpoint}")
    ckpt = load_checkpoint(args.checkpoint)
    config = ckpt.get("config") or {}
    if config.get("recipe") not in RECIPES:
        raise CLIError(f"eval: {args.checkpoint} does not say which recipe made it (config: "
                       f"{config.get('recipe')!r}); evaluate it from Python instead")
    parser = _recipe_parser(config["recipe"], prog=f"chainrule eval {args.checkpoint}")
    parser.set_defaults(**config)
    rargs = parser.parse_args(extra)
    for key in COMMON:  # the rebuilt parser leaves the common options None: use the stored ones
        if getattr(rargs, key) is None:
            setattr(rargs, key, config.get(key))
    rargs.limit_train = config.get("limit_train")
    cr.manual_seed(config.get("seed", 0))
    setup = recipes.get_recipe(config["recipe"]).build(rargs)
    try:
        setup.model.load_state_dict(ckpt["model"])
    except (RuntimeError, KeyError, ValueError) as e:  # weights of another architecture
        raise CLIError(f"eval: the weights in {args.checkpoint} do not fit the "
                       f"{config['recipe']!r} model its config describes: {e}") from None
    recipe = recipes.get_recipe(config["recipe"])
    if hasattr(recipe, "test"):  # sequence recipes measure themselves
        print(f"{args.checkpoint}: {config['recipe']} after epoch {ckpt['epoch']}")
        try:
            recipe.test(setup, rargs, args.split)
        except ValueError as e:
            raise CLIError(f"eval: {e}") from None
        return 0
    loader = {"test": setup.test_loader, "val": setup.val_loader,
              "train": setup.train_loader}[args.split]
    if loader is None:
        raise CLIError(f"eval: the run has no {args.split} set")
    res = evaluate(setup.model, setup.loss_fn, loader)
    print(f"{args.checkpoint}: {config['recipe']} after epoch {ckpt['epoch']}")
    print(f"{args.split} loss {res['loss']:.4f}  {args.split} accuracy "
          f"{100 * res['accuracy']:.2f}%")
    return 0


def cmd_sample(args) -> int:
    from .train.checkpoint import load_checkpoint

    if not os.path.exists(args.checkpoint):
        raise CLIError(f"sample: no such checkpoint: {args.checkpoint}")
    if args.length < 0 or args.temperature < 0 or (args.top_k is not None and args.top_k < 1) \
            or args.beam_width < 1 or args.num < 1:
        raise CLIError(f"sample: expected --length >= 0, --temperature >= 0, --top-k >= 1, "
                       f"--beam-width >= 1 and --num >= 1, got {args.length}, "
                       f"{args.temperature}, {args.top_k}, {args.beam_width} and {args.num}")
    ckpt = load_checkpoint(args.checkpoint)
    name = (ckpt.get("config") or {}).get("recipe")
    recipe = recipes.get_recipe(name) if name in RECIPES else None
    if recipe is None or not hasattr(recipe, "sample"):
        able = [n for n in RECIPES if hasattr(recipes.get_recipe(n), "sample")]
        raise CLIError(f"sample: {args.checkpoint} is a checkpoint of {name!r}; sample works "
                       f"with checkpoints of {', '.join(able)}")
    try:
        print(recipe.sample(ckpt, args))
    except (ValueError, KeyError) as e:
        raise CLIError(f"sample: {e}") from None
    return 0


def main(argv=None) -> int:
    """Entry point of the ``chainrule`` command (and ``python -m chainrule``)."""
    from .serialization import CorruptFileError

    argv = sys.argv[1:] if argv is None else list(argv)
    parser = build_parser()
    try:
        if argv[:1] == ["eval"]:
            args, extra = parser.parse_known_args(argv)
            return cmd_eval(args, extra)
        args = parser.parse_args(argv)
        if args.command == "list":
            return cmd_list(args)
        if args.command == "sample":
            return cmd_sample(args)
        defaults = vars(_recipe_parser(args.recipe).parse_args([]))
        return _train_or_abort(args, defaults)
    except (CLIError, CorruptFileError, OSError) as e:  # OSError: a missing file, a full disk
        if isinstance(e, OSError) and e.strerror and str(e.filename) in e.strerror:
            e = e.strerror  # chainrule's own message, which names the file already
        print(f"chainrule: error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
