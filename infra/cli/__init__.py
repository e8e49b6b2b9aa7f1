"""The command line: argument parsing, commands, rendering of tables and JSON, history and the
demo. May import every other part of the package; nothing imports it but its console script.
"""
