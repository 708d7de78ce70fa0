"""One router per resource; `flightdeck.api.app` mounts them."""
