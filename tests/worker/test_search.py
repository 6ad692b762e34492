"""A trial's configuration: the advisor's values with the sampled ones in, schedule parameters
decided as the advisor decides them."""

import advisor
from advisor.schedules import default_params
from worker.search import trial_config
from worker.trainer import TrialConfig


def advised(epochs: int) -> dict:
    answer = advisor.recommend({"model": {"name": "resnet50"},
                                "training": {"batch_size": 256, "epochs": epochs}})
    return dict(answer.hyperparameters)


def test_a_sampled_schedule_gets_its_own_parameters_for_the_run():
    base = advised(90)
    assert base["lr_schedule"] == "piecewise"
    switched = trial_config(base, {"lr_schedule": "exponential"})
    assert switched["lr_schedule_params"] == default_params("exponential", 90)
    assert "milestones" not in switched["lr_schedule_params"]
    TrialConfig.from_mapping(switched)  # the trainer takes it as it is


def test_a_sampled_length_moves_the_milestones_with_it():
    base = advised(90)
    shorter = trial_config(base, {"epochs": 12})
    assert shorter["lr_schedule_params"]["milestones"] == [4, 8]
    assert TrialConfig.from_mapping(shorter).lr_schedule_params["milestones"] == [4, 8]


def test_unsampled_schedule_keeps_the_advised_parameters():
    base = {**advised(90), "lr_schedule_params": {"milestones": [20, 70], "gamma": 0.2}}
    kept = trial_config(base, {"learning_rate": 0.05})
    assert kept["lr_schedule_params"] == {"milestones": [20, 70], "gamma": 0.2}
    assert kept["learning_rate"] == 0.05
