"""Score a VAE checkpoint's prior samples with the Frechet distance in LeNet-5 features.

The same measure and split as the dcgan recipe's test (chainrule.train.sample_quality): 5000
samples (Bernoulli means of decoded prior draws) against the first half of a seeded split of the
Fashion-MNIST test images, and the two real halves against each other as the reference.

    python benchmarks/score_vae_samples.py runs/vae/best.ckpt runs/lenet5-scorer/best.ckpt
"""
import argparse

import numpy as np

from chainrule.datasets import FashionMNIST
from chainrule.datasets.binarized import grey_levels
from chainrule.train.checkpoint import load_checkpoint
from chainrule.train.sample_quality import SampleScorer, load_classifier, split_halves


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("vae_checkpoint")
    ap.add_argument("classifier_checkpoint")
    ap.add_argument("--n", type=int, default=5000)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--root", default="data")
    args = ap.parse_args()

    from chainrule.recipes import vae as vae_recipe

    ckpt = load_checkpoint(args.vae_checkpoint)
    model = vae_recipe.model_from_checkpoint(ckpt)
    samples = np.asarray(vae_recipe.prior_samples(model, args.n, args.seed)).reshape(
        args.n, 1, 28, 28)
    scorer = SampleScorer(load_classifier(args.classifier_checkpoint), value_range=(0, 1))
    real = grey_levels(FashionMNIST(args.root, train=False)).reshape(-1, 1, 28, 28)
    a, b = split_halves(len(real), args.n)
    res = scorer.score(samples, real[a])
    ref = scorer.score(real[b], real[a])
    print(f"VAE prior samples vs test half: Frechet {res['frechet']:.2f}; classes covered "
          f"{res['modes_covered']}; label histogram "
          + " ".join(f"{100 * p:.1f}" for p in res["label_histogram"]))
    print(f"test half vs test half: Frechet {ref['frechet']:.3f}")


if __name__ == "__main__":
    main()
