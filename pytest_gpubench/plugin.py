"""pytest hooks of the gpubench plugin (being written)."""
