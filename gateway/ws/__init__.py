"""The WebSocket gateway: a Kraken WebSocket v2 dialect for traders."""
