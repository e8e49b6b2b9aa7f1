"""The pure domain: aggregates, events, the order lifecycle, money and refund policies."""
