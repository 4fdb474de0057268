"""The ranking benchmark's ceiling: the τ a perfect ranker scores against a noisy reference.

Known answer: for jointly Gaussian scores with correlation r, Kendall's τ is (2/π)·arcsin(r).  A perfect ranker
of true values with sd s against a one-seed reference with noise sd s has r = 1/√2, so τ = 0.5; with k seeds
r = 1/√(1 + 1/k), and τ first passes 0.7 at k = 4 (0.705)."""

import os
import sys

import matplotlib.image
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


def _store(tmp_path, name: str, standalone: dict) -> str:
    from shared_data import Store

    d = tmp_path / name
    d.mkdir()
    Store(str(d)).put("standalone", standalone)
    return str(d)


def test_compare_references_finds_the_shared_archs_and_their_order(tmp_path, capsys):
    """Known answer: the other run orders the three shared archs the opposite way (τ -1), has a fourth arch this
    run lacks, and averages the two seeds every shared arch has (arch c's lone seed 2 is left out)."""
    from ranking_fidelity import compare_references
    from shared_data import Store

    other = {f"{x}|{s}": {"heldout": v} for x, s, v in [("a", 0, 0.9), ("a", 1, 0.7), ("b", 0, 0.6), ("b", 1, 0.6),
                                                          ("c", 0, 0.4), ("c", 1, 0.2), ("c", 2, 0.99),
                                                          ("z", 0, 0.5), ("z", 1, 0.5)]}
    out = _store(tmp_path, "longer", other)
    here = _store(tmp_path, "here", {})
    compare_references(out, ["a", "b", "c", "d"], np.array([0.1, 0.2, 0.3, 0.4]), "seed 0", Store(here))
    got = Store(here).get("compare/longer")
    assert got["archs"] == 3 and got["other_seeds"] == 2 and abs(got["kendall_tau"] + 1) < 1e-9
    assert "0.3000..0.8000" in capsys.readouterr().out  # the means of seeds 0 and 1 there: c 0.3, a 0.8


def test_arch_pool_smaller_than_the_archs_is_a_one_line_error():
    import subprocess

    script = os.path.join(os.path.dirname(__file__), "..", "benchmarks", "ranking_fidelity.py")
    r = subprocess.run([sys.executable, script, "--archs", "5", "--arch-pool", "3"], capture_output=True, text=True)
    assert r.returncode == 2 and "--arch-pool 3" in r.stderr and "Traceback" not in r.stderr


def test_ranking_figure_has_one_panel_per_supernet(tmp_path):
    from ranking_fidelity import ranking_figure

    alone = np.array([0.5, 0.6, 0.7, 0.8])
    panels = {"base": (np.array([0.4, 0.5, 0.6, 0.7]), 1.0), "fair": (np.array([0.7, 0.6, 0.5, 0.4]), -1.0)}
    path = ranking_figure(panels, alone, "seed 0", str(tmp_path / "ranking.png"))
    img = matplotlib.image.imread(path)
    assert img.shape[1] > img.shape[0]  # two panels side by side: wider than tall
