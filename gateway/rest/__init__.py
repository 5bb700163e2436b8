"""The Kraken Spot REST subset (REST_API.md) on the node's HTTP port: :class:`RestGateway`."""

from gateway.rest.server import RestGateway

__all__ = ["RestGateway"]
