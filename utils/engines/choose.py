"""The one place that chooses a compute engine (config ``compute.engine``)."""

from __future__ import annotations

from utils.engines.base import SPARK, Engine, EngineSettings


def engine_for(settings: EngineSettings) -> Engine:
    """The engine of ``settings``: the one place where the choice is made."""
    if settings.name == SPARK:
        from utils.engines.on_spark import SparkEngine

        return SparkEngine(settings)
    from utils.engines.local import LocalEngine

    return LocalEngine()
