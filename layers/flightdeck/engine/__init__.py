"""The execution model: workflow definitions, their compilation to ASL, and the node runner."""
