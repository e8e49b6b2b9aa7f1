"""The audit: the hash chain's verification, the journal's checks and the replay of the whole
log against the money invariant and the read models; proofs for one account, exports and
explanations of decisions. May import domain, projections, infra.stores and infra.bootstrap.
"""
