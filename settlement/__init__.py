"""tokex settlement package."""
