"""The traffic simulator: a seeded world of accounts, orders and providers, and the hostile
lines it mixes in. Imports nothing else of the package.
"""
