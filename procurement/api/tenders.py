"""/api/v1 procurement: tenders (to be completed)."""
