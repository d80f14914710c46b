"""procurement views: admin (to be completed)."""
