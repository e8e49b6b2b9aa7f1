"""The audit: replay of the whole log against the money invariant and the read models. May
import domain, projections and infra.stores.
"""
