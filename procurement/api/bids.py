"""/api/v1 procurement: bids (to be completed)."""
