"""The protocol gateways, one subpackage each, all written against :mod:`node.interface`."""
