"""payments services, one module per concern."""
