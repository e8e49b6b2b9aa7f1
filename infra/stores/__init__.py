"""The event stores and their journals: SQLite and PostgreSQL recorders, the application,
orjson transcoding, store selection by URL. May import domain, projections, consumers and
infra.settings.
"""
