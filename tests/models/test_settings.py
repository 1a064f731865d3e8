"""Training settings: validation, immutability, plain-data export and equivalence with keyword options."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from pathreg.models import (
    CollocationSettings,
    NeuralODE,
    ShootingSettings,
    Trajectories,
    fit,
    fit_collocation,
    get_regularizer,
)

QUICK = {"device": "cpu", "progress": False}


def _data() -> Trajectories:
    t = torch.linspace(0, 1, 8)
    values = torch.stack([torch.exp(-t), 0.5 * torch.exp(-2 * t)], dim=1)
    return Trajectories.from_arrays([t], [values])


def _model(seed: int = 0) -> NeuralODE:
    torch.manual_seed(seed)
    field = get_regularizer("pathreg").build_vector_field(2, 2, hidden=(4,), activation="tanh")
    return NeuralODE(field, solver="rk4")


def test_defaults_are_those_of_fit_and_fit_collocation():
    shooting = ShootingSettings()
    assert (shooting.n_epochs, shooting.lr, shooting.lr_schedule, shooting.patience) == (1000, 1e-2, "plateau", 200)
    assert shooting.sparsification_scales == (0.1, 0.3, 1.0)
    assert (shooting.refit_epochs, shooting.select, shooting.polish, shooting.cuda_graph) == (
        0,
        "last",
        "lbfgs",
        "auto",
    )
    collocation = CollocationSettings()
    assert dataclasses.asdict(collocation) == {
        "n_epochs": 2000,
        "lr": 1e-2,
        "gate_lr": None,
        "weight_decay": 0.0,
        "warmup_fraction": 0.0,
        "refit_fraction": 0.0,
        "cell_weight": 1.0,
        "batch_size": 256,
        "rewind": False,
    }


def test_settings_are_immutable_and_replace_validates():
    settings = ShootingSettings(n_epochs=5)
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.n_epochs = 6
    changed = settings.replace(lr=0.03, curriculum=[0.5])
    assert (changed.n_epochs, changed.lr, changed.curriculum) == (5, 0.03, (0.5,))
    assert settings.lr == 1e-2
    with pytest.raises(ValueError, match="n_epochs"):
        settings.replace(n_epochs=0)


@pytest.mark.parametrize(
    ("settings", "name", "expected"),
    [
        (ShootingSettings(), "n_epoch", "Close matches: ['n_epochs'"),
        (ShootingSettings(), "lr_shedule", "Close matches: ['lr_schedule'"),
        (ShootingSettings(), "finetune_epochs", "It is now 'refit_epochs'"),
        (CollocationSettings(), "warmup_epochs", "It is now 'warmup_fraction'"),
        (CollocationSettings(), "refit_epochs", "It is now 'refit_fraction'"),
        (CollocationSettings(), "warmup_fractions", "Close matches: ['warmup_fraction'"),
    ],
)
def test_unknown_option_names_close_matches_and_the_valid_names(settings, name, expected):
    with pytest.raises(ValueError, match=f"Unknown {type(settings).__name__} option {name!r}") as error:
        settings.replace(**{name: 1})
    assert expected in str(error.value)
    valid = sorted(field.name for field in dataclasses.fields(settings))
    assert f"Valid names are {valid}" in str(error.value)


def test_fit_and_fit_collocation_reject_unknown_options():
    with pytest.raises(ValueError, match=r"Close matches: \['n_epochs'"):
        fit(_model(), _data(), n_epoch=5, **QUICK)
    with pytest.raises(ValueError, match="It is now 'refit_epochs'"):
        fit(_model(), _data(), finetune_epochs=5, **QUICK)
    states = torch.rand(10, 2)
    with pytest.raises(ValueError, match="It is now 'warmup_fraction'"):
        fit_collocation(_model(), states, -states, warmup_epochs=5, **QUICK)
    with pytest.raises(TypeError, match="ShootingSettings"):
        fit(_model(), _data(), settings=CollocationSettings(), **QUICK)
    with pytest.raises(TypeError, match="CollocationSettings"):
        fit_collocation(_model(), states, -states, settings={"n_epochs": 5}, **QUICK)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_epochs": 0}, "n_epochs must be an integer of at least 1"),
        ({"n_epochs": 2.5}, "n_epochs must be an integer"),
        ({"lr": 0.0}, "lr must be positive"),
        ({"gate_lr": -1.0}, "gate_lr must be positive or None"),
        ({"weight_decay": -1e-3}, "weight_decay must be non-negative"),
        ({"lr_schedule": "linear"}, r"Unknown lr_schedule 'linear'; valid names are \['plateau', 'cosine'"),
        ({"patience": 0}, "patience must be an integer of at least 1"),
        ({"min_delta": -0.1}, "min_delta must be non-negative"),
        ({"clip_grad_norm": 0.0}, "clip_grad_norm must be positive or None"),
        ({"regime": "dense"}, r"Unknown regime 'dense'; valid names are \['sparse', 'iterative'\]"),
        ({"curriculum": (0.5, 1.5)}, r"curriculum fractions must lie in \(0, 1\)"),
        ({"curriculum_epochs": -1}, "curriculum_epochs must be an integer of at least 0"),
        ({"refit_epochs": -1}, "refit_epochs must be an integer of at least 0"),
        ({"polish": "sgd"}, r"Unknown polish 'sgd'; valid names are \['lbfgs', 'adam'\]"),
        ({"polish_epochs": 0}, "polish_epochs must be an integer of at least 1 or None"),
        ({"select": "best"}, r"Unknown select 'best'; valid names are \['last', 'bic'\]"),
        ({"select": "bic"}, "set refit_epochs > 0"),
        ({"cuda_graph": "always"}, "cuda_graph must be 'auto', True or False"),
        ({"cuda_graph": 1}, "cuda_graph must be 'auto', True or False"),
    ],
)
def test_invalid_shooting_settings_name_the_valid_values(options, message):
    with pytest.raises(ValueError, match=message):
        ShootingSettings(**options)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"n_epochs": 0}, "n_epochs must be an integer of at least 1"),
        ({"lr": -0.1}, "lr must be positive"),
        ({"warmup_fraction": 1.2}, r"warmup_fraction must lie in \[0, 1\]"),
        ({"refit_fraction": -0.1}, r"refit_fraction must lie in \[0, 1\]"),
        ({"warmup_fraction": 0.7, "refit_fraction": 0.4}, "must sum to at most 1"),
        ({"n_epochs": 3, "warmup_fraction": 0.5, "refit_fraction": 0.5}, "2 warm-up and 2 refit epochs of 3"),
    ],
)
def test_invalid_collocation_settings_name_the_valid_values(options, message):
    with pytest.raises(ValueError, match=message):
        CollocationSettings(**options)


def test_fractions_become_rounded_epoch_counts():
    settings = CollocationSettings(n_epochs=50, warmup_fraction=0.4, refit_fraction=0.2)
    assert (settings.warmup_epochs, settings.refit_epochs) == (20, 10)
    assert CollocationSettings(n_epochs=37, warmup_fraction=0.25).warmup_epochs == int(round(0.25 * 37))


def test_to_dict_is_plain_data_that_rebuilds_the_settings():
    settings = ShootingSettings(curriculum=(0.2, 0.4), refit_epochs=3, select="bic", cuda_graph=False)
    plain = settings.to_dict()
    assert plain["curriculum"] == [0.2, 0.4]
    assert plain["sparsification_scales"] == [0.1, 0.3, 1.0]
    assert "gate_lr" not in plain  # None is not writable to h5ad; it is the default
    assert all(isinstance(value, (bool, int, float, str, list)) for value in plain.values())
    assert ShootingSettings(**plain) == settings
    collocation = CollocationSettings(gate_lr=0.1, warmup_fraction=0.4)
    assert CollocationSettings(**collocation.to_dict()) == collocation


def _fitted(**keywords) -> tuple[dict, dict]:
    model = _model(seed=2)
    history = fit(model, _data(), regularizer="pathreg", seed=4, **QUICK, **keywords)
    return history.to_dict(), model.state_dict()


def test_fit_with_settings_equals_fit_with_options_bit_for_bit():
    from_settings = _fitted(settings=ShootingSettings(n_epochs=5))
    from_options = _fitted(n_epochs=5)
    assert from_settings[0] == from_options[0]
    assert len(from_settings[0]["loss"]) == 5
    for name, value in from_settings[1].items():
        assert torch.equal(value, from_options[1][name])
    # options override the fields of settings
    combined = _fitted(settings=ShootingSettings(n_epochs=5, lr=0.5), lr=0.05, curriculum=(0.5,), curriculum_epochs=2)
    separate = _fitted(n_epochs=5, lr=0.05, curriculum=(0.5,), curriculum_epochs=2)
    assert combined[0] == separate[0]
    assert combined[0]["learning_rate"][0] == 0.05
