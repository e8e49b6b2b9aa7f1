"""Observability: log set-up (text or JSON lines), Prometheus metrics of the consumer and the
relay, and the read-model status. May import domain, projections, consumers and
infra.settings.
"""
