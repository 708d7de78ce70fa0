"""Lambda handlers. Each is thin: parse the event, call the core, shape the answer.

Handler strings are `functions.<name>.handler.handler`, the same in CDK and in the local
emulator, which dispatches Lambda invocations to these very functions.
"""
