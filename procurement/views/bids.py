"""procurement views: bids (to be completed)."""
