"""Every kind of event the monitoring store records, listed once."""

from __future__ import annotations

from enum import StrEnum


class EventKind(StrEnum):
    INGESTION = "ingestion"
    TRAINING = "training"
    SCORING = "scoring"
    DEPLOYMENT = "deployment"
    DIAGNOSTICS = "diagnostics"
    # The automation's checks of new data and its decision.
    SCORE_DRIFT = "score_drift"
    DATA_DRIFT = "data_drift"
    DECISION = "automation"
    # Estimated performance of the live traffic and unlabelled batches (utils.monitoring.chunks).
    MONITORING = "monitoring"
    # Operations (utils.ops.alerts): the deployment link moved back, a release the API refused,
    # an automation run that failed.
    ROLLBACK = "rollback"
    # A challenger's arrival, promotion or rejection (deployment.strategy: shadow).
    CHALLENGER = "challenger"
    REFUSED_RELEASE = "refused_release"
    FAILED_RUN = "failed_run"
