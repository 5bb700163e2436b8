"""The vocabulary the core and the edges share: instruments, commands, the order record."""
