"""Services of procurement (one module per concern)."""
