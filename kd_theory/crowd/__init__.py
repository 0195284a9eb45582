"""Crowdsourced labels: aggregators with crowd-kit's interface, task types, simulated and real crowds.

Switch from crowd-kit with one import: ``from kd_theory.crowd import DawidSkene`` (``fit``,
``fit_predict``, ``fit_predict_proba`` on a frame with columns task, worker, label).
"""
from kd_theory.crowd.dawid_skene import DawidSkene, OneCoinDawidSkene, dawid_skene_em, fit_dawid_skene
from kd_theory.crowd.glad import GLAD, glad_em
from kd_theory.crowd.io import (Crowd, CrowdDescription, DuplicateAnswersWarning, describe_answers,
                                handle_duplicate_answers, load_answers_csv, load_bundled, load_crowd, load_truth_csv,
                                read_crowd)
from kd_theory.crowd.majority_vote import MajorityVote, Wawa, expected_accuracy_random_ties, vote_shares
from kd_theory.crowd.matrix import LabelMatrix
from kd_theory.crowd.simulate import (SimulatedCrowd, distinct_skill_skills, easy_hard_skills,
                                      exact_share_two_type_crowd, same_skills, simulate_answers, simulate_crowd,
                                      simulate_two_type_crowd, two_type_skills)
from kd_theory.crowd.spectral import SpectralMetaLearner, spectral_meta_learner
from kd_theory.crowd.task_types import TaskTypeAware, partition_tasks, spectral_task_types, type_recovery
from kd_theory.crowd.triangular import TriangularEstimation, triangular_estimation_vote

__all__ = [
    "DawidSkene", "OneCoinDawidSkene", "GLAD", "MajorityVote", "Wawa", "TriangularEstimation",
    "SpectralMetaLearner", "TaskTypeAware", "LabelMatrix", "SimulatedCrowd",
    "dawid_skene_em", "fit_dawid_skene", "glad_em", "vote_shares", "expected_accuracy_random_ties",
    "triangular_estimation_vote", "spectral_meta_learner", "spectral_task_types", "partition_tasks",
    "type_recovery", "simulate_crowd", "simulate_answers", "simulate_two_type_crowd", "two_type_skills",
    "easy_hard_skills", "distinct_skill_skills", "same_skills", "exact_share_two_type_crowd",
    "load_answers_csv", "load_truth_csv", "load_crowd", "load_bundled", "read_crowd", "describe_answers",
    "handle_duplicate_answers", "Crowd", "CrowdDescription", "DuplicateAnswersWarning",
]
