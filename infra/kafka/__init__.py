"""Kafka: client factories, topics, the producer of JSONL, the local Tansu broker, and the
consume/relay runtime. May import domain, projections, consumers, infra.settings,
infra.bootstrap, infra.alongside and infra.observability.
"""
