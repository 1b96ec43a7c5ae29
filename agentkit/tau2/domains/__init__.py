"""tau2 domains: airline, retail, telecom and mock (see :mod:`agentkit.tau2.registry`)."""

__all__: list[str] = []
