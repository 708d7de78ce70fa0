"""Telemetry tied to runs: OpenTelemetry traces (`tracing`) and the cost ledger (`costs`).

Importing this package is cheap: the OpenTelemetry SDK loads on the first span.
"""
