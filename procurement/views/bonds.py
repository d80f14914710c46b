"""procurement views: bonds (to be completed)."""
