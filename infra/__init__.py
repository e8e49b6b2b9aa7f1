"""The outer layer: settings and wiring (`bootstrap`) at this root, and the stores, Kafka,
command line, audit, simulator and benchmark in subpackages named for them."""
