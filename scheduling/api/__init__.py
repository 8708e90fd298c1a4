"""REST endpoints of the scheduling app, one module per concern."""
