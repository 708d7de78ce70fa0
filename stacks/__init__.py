"""The CDK stacks that deploy Flightdeck: data, workflow, api, frontend, observability.

`stacks.app.build` assembles them for one stage; `app.py` (the `cdk` entry) and the infra tests
both call it, so what the tests assert is what `cdk deploy` ships.
"""
