"""Campaigns: KPIs as ratios of sums, period comparison, pacing, anomaly flags and incremental return.

Dashboard (this package's own modules): kpis, compare_periods, pacing, anomalies, incremental_return;
figures in core.campaigns.charts. The marketing-mix model lives in core.campaigns.mmm (its main names are re-exported here).
"""

from core.campaigns.anomalies import Anomalies, anomalies, flag_daily, robust_scores
from core.campaigns.incremental import IncrementalReturn, incremental_return, revenue_metrics
from core.campaigns.kpis import (FREQS, KPI_INFO, KPIS, Columns, Freq, InputCheck, KpiChange, KpiInfo,
                                 PeriodComparison, check_inputs, compare_periods, defined_kpis, kpis, total_row)
from core.campaigns.pacing import TOLERANCE, Pacing, pacing, status_of

__all__ = ["kpis", "KPIS", "KPI_INFO", "KpiInfo", "FREQS", "Freq", "Columns", "InputCheck", "check_inputs",
           "compare_periods", "PeriodComparison", "KpiChange", "defined_kpis", "total_row",
           "pacing", "Pacing", "status_of", "TOLERANCE",
           "anomalies", "flag_daily", "robust_scores", "Anomalies",
           "incremental_return", "IncrementalReturn", "revenue_metrics"]

# Marketing-mix model: transforms, fit, response curves and the budget allocator (core/campaigns/mmm*.py).
from core.campaigns.mmm import MMMResult, adstock_geometric, channel_table, fit_mmm, saturation_hill  # noqa: E402
__all__ += ["adstock_geometric", "saturation_hill", "fit_mmm", "MMMResult", "channel_table"]
