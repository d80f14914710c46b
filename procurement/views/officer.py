"""procurement views: officer (to be completed)."""
