"""Read models derived from the event log, as SQL tables with a tracking position."""
