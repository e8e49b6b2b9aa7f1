"""Settings, stores, transcoding, Kafka clients, the broker launcher, the CLI and wiring."""
