"""Turning inbound messages into commands: decoding, handlers, ingest, Kafka, dead letters."""
