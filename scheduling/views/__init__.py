"""Server-rendered pages of the scheduling app, one module per concern."""
