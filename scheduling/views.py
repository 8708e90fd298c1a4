"""Server-rendered pages for availability."""
