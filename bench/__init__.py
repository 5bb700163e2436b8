"""tokex bench package."""
