import numpy as np
import pytest
import torch

from molvae.errors import CheckpointError, InputError
from molvae.models.prior import MixturePrior


def test_mixture_prior_recovers_where_codes_are():
    rng = np.random.default_rng(0)
    mu = np.concatenate([rng.normal(5.0, 0.3, (300, 3)), rng.normal(-5.0, 0.3, (300, 3))])
    prior = MixturePrior.fit(mu, np.full_like(mu, -6.0), n_components=2, seed=0)
    z = prior.sample(2000, seed=1)
    assert z.shape == (2000, 3) and z.dtype == np.float32
    # draws land near the two clusters, never in the hole between them that N(0, I) would fill
    assert np.all(np.abs(np.abs(z).mean(axis=1) - 5.0) < 2.0)
    assert 0.4 < (z[:, 0] > 0).mean() < 0.6
    np.testing.assert_array_equal(prior.sample(5, seed=3), prior.sample(5, seed=3))


def test_mixture_prior_round_trips_as_plain_tensors():
    rng = np.random.default_rng(1)
    prior = MixturePrior.fit(rng.normal(size=(200, 4)), np.zeros((200, 4)), n_components=3, seed=0)
    data = prior.to_dict()
    assert all(isinstance(v, (torch.Tensor, str, int)) for v in data.values())
    again = MixturePrior.from_dict(data)
    np.testing.assert_allclose(again.sample(10, seed=0), prior.sample(10, seed=0))
    with pytest.raises(CheckpointError):
        MixturePrior.from_dict({**data, "kind": "flow"})


def test_model_samples_from_its_fitted_prior(tiny_model, sample_smiles):
    import copy

    model = copy.deepcopy(tiny_model)
    assert model.prior is None
    standard = model.sample_prior(50, seed=0)
    with pytest.raises(InputError):
        model.sample_prior(5, prior="fitted")
    model.fit_prior(sample_smiles, n_components=2, seed=0)
    fitted = model.sample_prior(50, seed=0)
    assert not np.allclose(fitted, standard)
    np.testing.assert_array_equal(model.sample_prior(50, seed=0, prior="standard"), standard)
    enc = model.encode(sample_smiles)
    # fitted draws sit where the encoder puts molecules: their mean is close to the codes' mean
    assert np.linalg.norm(fitted.mean(0) - enc.mu.mean(0)) < np.linalg.norm(standard.mean(0) - enc.mu.mean(0)) + 0.5


def test_prior_is_saved_in_the_checkpoint(tiny_model, sample_smiles, tmp_path):
    import copy

    from molvae import MolVAE

    model = copy.deepcopy(tiny_model)
    model.fit_prior(sample_smiles, n_components=2, seed=0)
    model.save(tmp_path / "m.pt")
    again = MolVAE.load(tmp_path / "m.pt")
    np.testing.assert_allclose(again.sample_prior(20, seed=4), model.sample_prior(20, seed=4))
