"""tokex risk package."""
