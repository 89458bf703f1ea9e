"""pytest hooks for EC2 GPU sessions (being written)."""
