"""procurement views: custodians (to be completed)."""
