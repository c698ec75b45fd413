import pytest

from molvae.config import RunConfig
from molvae.errors import ConfigError


def test_toml_round_trip(tmp_path):
    cfg = RunConfig.from_dict(
        {
            "model": {"latent_dim": 12, "representation": "smiles"},
            "data": {"properties": ["logp", "qed"]},
            "train": {"beta": 0.1},
        }
    )
    path = tmp_path / "c.toml"
    path.write_text(cfg.to_toml())
    assert RunConfig.from_toml(path) == cfg


@pytest.mark.parametrize(
    "raw,match",
    [
        ({"model": {"latent_size": 3}}, "unknown key.*latent_size.*known: .*latent_dim"),
        ({"optim": {}}, "unknown config section"),
        ({"model": {"latent_dim": 0}}, "latent_dim must be >= 1"),
        ({"train": {"kl_schedule": "sometimes"}}, "kl_schedule must be one of"),
        ({"model": {"representation": "inchi"}}, "representation must be one of"),
    ],
)
def test_bad_configs_are_clear_errors(raw, match):
    with pytest.raises(ConfigError, match=match):
        RunConfig.from_dict(raw)


def test_override_ignores_none_and_validates():
    cfg = RunConfig().override("train", epochs=3, beta=None)
    assert cfg.train.epochs == 3 and cfg.train.beta == RunConfig().train.beta
    with pytest.raises(ConfigError):
        cfg.override("train", epochs=0)


def test_invalid_toml_file(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[model\nlatent_dim = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        RunConfig.from_toml(path)
    with pytest.raises(ConfigError, match="not found"):
        RunConfig.from_toml(tmp_path / "missing.toml")
