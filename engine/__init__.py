"""tokex engine package."""
