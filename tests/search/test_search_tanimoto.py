"""molvae.search.tanimoto: the Tanimoto-kernel GP and GP-BUCB batch selection."""

import numpy as np
import pytest
from conftest import DRUGS

from molvae import chem
from molvae.search.tanimoto import TanimotoGP


@pytest.fixture(scope="module")
def data(sample_smiles):
    fp = chem.morgan_fingerprints(sample_smiles)
    y = chem.compute_properties(sample_smiles, ["logp"])[:, 0]
    return fp, y


@pytest.fixture
def gp(data):
    """A GP fitted on the first 40 molecules; the other 20 are held out (or candidates)."""
    fp, y = data
    return TanimotoGP.fit(fp[:40], y[:40])


def test_the_gp_interpolates_what_it_was_given_and_is_unsure_far_away(data, gp):
    fp, y = data
    mean, sd = gp.predict(fp[:40])
    assert np.corrcoef(mean, y[:40])[0, 1] > 0.9
    far = chem.morgan_fingerprints(["FC(F)(F)C(F)(F)C(F)(F)F", "[Na+].[Cl-]"])
    far_mean, far_sd = gp.predict(far)
    assert far_sd.min() > sd.mean()  # nothing like the training molecules: the GP says it does not know
    assert np.allclose(far_mean, y[:40].mean(), atol=0.5 * y[:40].std())  # and falls back to the mean
    held_out, _ = gp.predict(fp[40:])
    assert np.corrcoef(held_out, y[40:])[0, 1] > 0.3  # and it generalizes a little


def test_a_batch_spreads_over_distinct_candidates(data, gp):
    fp, _ = data
    mean, sd = gp.predict(fp[40:])
    best = int(np.argmax(mean + 5.0 * sd))
    candidates = np.concatenate([fp[40:], fp[40 + best : 41 + best], fp[40 + best : 41 + best]])  # two copies of it
    picked = gp.select(candidates, 3, beta=5.0)
    copies = {best, len(candidates) - 2, len(candidates) - 1}
    assert len(picked) == 3 and len(set(picked)) == 3
    assert len(copies & set(picked)) == 1  # once one copy is picked, the others lose their bonus


def test_rejected_candidates_are_never_picked(data, gp):
    fp, _ = data
    checked = []

    def accept(idx):
        checked.extend(idx.tolist())
        return idx % 2 == 0

    picked = gp.select(fp[40:], 5, beta=1.0, accept=accept)
    assert len(picked) == 5 and all(i % 2 == 0 for i in picked)
    assert set(picked) <= set(checked)
    assert gp.select(fp[40:], 3, accept=lambda idx: np.zeros(len(idx), bool)) == []


def test_the_noise_grid_picks_more_noise_for_noisy_data(data):
    fp, _ = data
    rng = np.random.default_rng(0)
    smooth = chem.compute_properties(DRUGS, ["mw"])[:, 0]
    clean = TanimotoGP.fit(chem.morgan_fingerprints(DRUGS), smooth)
    noisy = TanimotoGP.fit(fp, rng.standard_normal(len(fp)))
    assert noisy.noise > clean.noise


def test_the_chosen_noise_maximizes_the_marginal_likelihood(data):
    from molvae.evaluation.metrics import tanimoto_matrix
    from molvae.search.tanimoto import NOISE_GRID

    fp, y = data
    gp = TanimotoGP.fit(fp, y)
    K, r, n = tanimoto_matrix(fp, fp).astype(np.float64), y - y.mean(), len(y)

    def loglik(noise):  # profile likelihood, s2 at its optimum, computed the slow way
        A = K + noise * np.eye(n)
        s2 = r @ np.linalg.solve(A, r) / n
        return -0.5 * n * np.log(s2) - 0.5 * np.linalg.slogdet(A)[1]

    assert gp.noise == max(NOISE_GRID, key=loglik)
    assert np.allclose(gp.alpha, np.linalg.solve(K + gp.noise * np.eye(n), r))


def test_sanity_checks_run_only_on_candidates_about_to_be_picked(data, gp):
    fp, _ = data
    checked = []

    def accept(idx):
        checked.extend(idx.tolist())
        return np.ones(len(idx), bool)

    picked = gp.select(fp[40:], 4, accept=accept)
    assert checked == picked  # expensive checks (PAINS) are paid for picks only
