"""The read-only web view of the ledger for support and analysts (`smsledger serve`): pages
rendered on the server from the read models and the event log. May import the settings,
bootstrap, the stores and the command line's history and nothing else of infra."""
