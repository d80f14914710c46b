"""procurement views: enquiries (to be completed)."""
