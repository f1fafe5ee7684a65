"""Predictive models: train classifiers and regressors, evaluate them honestly, save and score."""

from core.models.comparison import compare
from core.models.estimators import ALGORITHMS
from core.models.evaluate import lift_table
from core.models.prepare import detect_task, leakage_warnings, suggest_features
from core.models.steps import (CrossValidation, Dataset, Evaluation, Explanation, Problem, Split, TrainingInfo,
                               Tuning)
from core.models.selection import FeatureSelection, select_features
from core.models.store import ModelStore, score_table
from core.models.trained import TrainedModel, load_model, train

__all__ = ["train", "TrainedModel", "load_model", "lift_table", "detect_task", "suggest_features",
           "leakage_warnings", "ALGORITHMS", "ModelStore", "score_table", "compare", "select_features",
           "FeatureSelection",
           # the typed results of the steps train() runs (the step functions: core.models.steps)
           "Dataset", "Problem", "Split", "Tuning", "CrossValidation", "Evaluation", "Explanation", "TrainingInfo"]
