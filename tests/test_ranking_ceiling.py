"""The ranking benchmark's ceiling: the τ a perfect ranker scores against a noisy reference.

Known answer: for jointly Gaussian scores with correlation r, Kendall's τ is (2/π)·arcsin(r).  A perfect ranker
of true values with sd s against a one-seed reference with noise sd s has r = 1/√2, so τ = 0.5; with k seeds
r = 1/√(1 + 1/k), and τ first passes 0.7 at k = 4 (0.705)."""

import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "benchmarks"))

from ranking_fidelity import perfect_ranker  # noqa: E402


def _refs(true_sd: float, sd: float, seeds: int, n: int = 20) -> np.ndarray:
    """References whose sample variance is exactly the true spread plus the noise of a ``seeds``-run mean."""
    z = np.random.default_rng(1).normal(size=n)
    z = (z - z.mean()) / z.std(ddof=1)
    return 0.45 + z * (true_sd**2 + sd**2 / seeds) ** 0.5


def test_perfect_ranker_matches_the_gaussian_formula():
    taus, need = perfect_ranker(_refs(0.01, 0.01, 1), 0.01, 1, np.random.default_rng(0), draws=600)
    assert abs(np.median(taus) - 0.5) < 0.05  # (2/π)·arcsin(1/√2)
    assert need in (4, 5)  # 0.705 at four seeds, so the sample median may need a fifth


def test_noise_free_reference_is_ranked_perfectly_and_pure_noise_not_at_all():
    taus, need = perfect_ranker(_refs(0.01, 1e-6, 1), 1e-6, 1, np.random.default_rng(0), draws=50)
    assert np.median(taus) > 0.99 and need == 1
    taus, need = perfect_ranker(_refs(0.0, 0.01, 3), 0.02, 3, np.random.default_rng(0), draws=50)
    assert np.all(taus == 0) and need is None
