"""Flightdeck core: workflows, the node runner, the run store and the API.

Shared by every Lambda function (shipped as a layer) and by the local runner.
"""

__version__ = "0.1.0"
