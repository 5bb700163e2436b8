"""The `tokex` command line and the server that wires the node to its gateways."""
