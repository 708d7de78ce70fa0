"""Workflows that exist only for tests: discovered when FLIGHTDECK_WORKFLOW_PACKAGES names this
package, exactly as a real workflow package is."""
