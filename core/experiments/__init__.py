"""A/B and campaign tests: sufficient statistics in the database, statistics in pure functions."""

from core.experiments.analysis import (ExperimentResult, analyze, analyze_summary, breakdown, choose_control, combine,
                                       srm_test, timeline)
from core.experiments.assignment import AssignmentCheck, Cleaning, check_assignment, dedupe_users
from core.experiments.data import summarize
from core.experiments.planning import detectable_effect, duration_days, sample_size

__all__ = ["summarize", "analyze", "analyze_summary", "ExperimentResult", "srm_test", "sample_size",
           "detectable_effect", "duration_days", "timeline", "breakdown", "choose_control", "combine",
           "check_assignment", "AssignmentCheck", "dedupe_users", "Cleaning"]
