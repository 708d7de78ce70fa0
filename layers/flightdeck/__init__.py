"""Flightdeck core: workflows, the node runner, the run store and the API, shared by every Lambda."""

__version__ = "0.1.0"
