"""tokex gateway package."""
