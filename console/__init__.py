"""The operator console (a web page over the WebSocket API) and ``/metrics``."""
