"""`smsledger bench`: the phases, the naive baseline, the child process that ingests, the Kafka
phase. May import every part of the package except infra.cli (render aside).
"""
