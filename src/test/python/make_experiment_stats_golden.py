#!/usr/bin/env python3
"""Writes the golden statistics for ExperimentResultsTest, independently of the Java code.

Feedback scores of a few made-up experiments (seeded numpy draws), and for each variant the mean,
sample standard deviation and 95% confidence interval of the mean (t distribution, n - 1 degrees
of freedom), and for each non-control variant Welch's two-sided t-test against the control
(Welch-Satterthwaite degrees of freedom).

scipy is not needed: the t distribution's two-sided tail is computed from its density with the
substitution x = sqrt(v) tan(theta), which turns it into
    P(|T| > t) = 2 G((v+1)/2) / (sqrt(pi) G(v/2)) * integral from atan(t/sqrt(v)) to pi/2 of cos(theta)^(v-1)
(a smooth integrand, integrated with composite Gauss-Legendre), and the quantile by bisection on it.
The Java code uses Apache Commons Math's incomplete beta function instead.

Run from the repository root:  python3 src/test/python/make_experiment_stats_golden.py
"""
import json
import math
import os

import numpy as np

OUT = "src/test/resources/experiments/stats-golden.json"
NODES, WEIGHTS = np.polynomial.legendre.leggauss(40)


def two_sided_tail(t, v):
    lo, hi = math.atan(abs(t) / math.sqrt(v)), math.pi / 2
    edges = np.linspace(lo, hi, 257)
    total = 0.0
    for a, b in zip(edges[:-1], edges[1:]):
        x = (b - a) / 2 * NODES + (a + b) / 2
        total += (b - a) / 2 * float(np.sum(WEIGHTS * np.cos(x) ** (v - 1)))
    scale = math.exp(math.lgamma((v + 1) / 2) - math.lgamma(v / 2)) / math.sqrt(math.pi)
    return 2 * scale * total


def t_quantile_975(v):
    lo, hi = 0.0, 1000.0  # two_sided_tail falls from 1 at 0 to ~0 at 1000 for v >= 1
    for _ in range(200):
        mid = (lo + hi) / 2
        if two_sided_tail(mid, v) > 0.05:
            lo = mid
        else:
            hi = mid
    return (lo + hi) / 2


def describe(scores):
    x = np.array(scores, dtype=np.float64)
    n = len(x)
    out = {"count": n, "mean": float(np.mean(x))}
    if n >= 2:
        sd = float(np.std(x, ddof=1))
        half = t_quantile_975(n - 1) * sd / math.sqrt(n)
        out.update(std_dev=sd, ci95=[out["mean"] - half, out["mean"] + half])
    return out


def welch(variant, control):
    a, b = np.array(variant, dtype=np.float64), np.array(control, dtype=np.float64)
    va, vb = np.var(a, ddof=1) / len(a), np.var(b, ddof=1) / len(b)
    t = (np.mean(a) - np.mean(b)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va ** 2 / (len(a) - 1) + vb ** 2 / (len(b) - 1))
    return {"difference": float(np.mean(a) - np.mean(b)), "t": float(t), "df": float(df),
            "p_value": two_sided_tail(float(t), float(df))}


def case(name, scores):
    control = next(iter(scores))
    return {"name": name, "control": control, "scores": scores,
            "expected": {k: describe(v) for k, v in scores.items()},
            "comparisons": {k: welch(v, scores[control]) for k, v in scores.items() if k != control}}


def main():
    rng = np.random.RandomState(20261120)
    ratings = {
        "base": [int(x) for x in rng.choice([1, 2, 3, 4, 5], size=40, p=[0.1, 0.2, 0.35, 0.25, 0.1])],
        "tuned": [int(x) for x in rng.choice([1, 2, 3, 4, 5], size=35, p=[0.05, 0.1, 0.25, 0.35, 0.25])],
        "prompt": [int(x) for x in rng.choice([1, 2, 3, 4, 5], size=25, p=[0.1, 0.2, 0.3, 0.3, 0.1])],
    }
    thumbs = {
        "control": [int(x) for x in rng.binomial(1, 0.5, size=80)],
        "fine_tuned": [int(x) for x in rng.binomial(1, 0.8, size=70)],
    }
    small = {
        "a": [round(float(x), 3) for x in rng.normal(0.5, 0.2, size=3)],
        "b": [round(float(x), 3) for x in rng.normal(0.8, 0.3, size=4)],
    }
    golden = {"cases": [case("ratings", ratings), case("thumbs", thumbs), case("small", small)]}
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(golden, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
