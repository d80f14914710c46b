"""/api/v1 procurement: questions (to be completed)."""
