"""Deploy synthesized CDK stacks to the in-process emulator's CloudFormation (moto).

moto creates only some resource types, and a template fresh from `cdk synth` assumes a
bootstrapped account. `for_emulator` rewrites a template into what the emulator can create:

- the bootstrap version parameter and its rule go (there is no bootstrap stack or SSM
  parameter to check against);
- resources of types moto cannot create (custom resources, RDS Proxy, Secrets Manager secrets
  and rotation, the SAM rotation application, bucket policies, Scheduler schedules, WAF, ...)
  are dropped, and with them everything that refers to them, and outputs that name them;
- imports of exports that only a dropped resource could provide get stand-in values;
- a Lambda alias (moto's CloudFormation has no model for one; the API and node runner are
  invoked through their SnapStart `live` alias) gives way to its function: references to the
  alias become the function's ARN, so the emulator invokes the function itself;
- a state machine's `DefinitionSubstitutions` (which moto ignores) are applied to its
  `DefinitionString` as an `Fn::Join` of the text between placeholders and the substituted
  values (moto's `Fn::Sub` would also turn ASL's `$$.` context paths into `$.`).

moto's CloudFormation creates state machines in its plain Step Functions backend, while the
emulator serves Step Functions from the backend that executes ASL; `hand_over_state_machines`
moves each created machine (same name, ARN, role and resolved definition) to the executing one.

`upload_assets` puts the stack's file assets (code and layer directories, zipped as the CDK
CLI zips them) in the bootstrap bucket that the template's Lambda `Code` points at.
"""

from __future__ import annotations

import copy
import io
import json
import re
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

BOOTSTRAP_PARAMETER = "BootstrapVersion"
BOOTSTRAP_RULE = "CheckBootstrapVersion"
_SUB_NAME = re.compile(r"\$\{([A-Za-z0-9]+)(?:\.[A-Za-z0-9.]+)?\}")


def creatable_types() -> set[str]:
    """The resource types moto's CloudFormation creates."""
    from moto.cloudformation.parsing import get_model_map

    return {t for t in get_model_map() if t.startswith("AWS::")}


@dataclass
class Rewritten:
    template: dict[str, Any]
    # Logical id -> why it is not created in the emulator.
    dropped: dict[str, str] = field(default_factory=dict)
    # Logical id -> type, for the resources dropped because moto cannot create their type.
    unsupported: dict[str, str] = field(default_factory=dict)
    # Alias logical id -> the function's, for the aliases replaced by their function.
    aliased: dict[str, str] = field(default_factory=dict)

    def resource_types(self) -> set[str]:
        return {r["Type"] for r in self.template["Resources"].values()}


def references(node: Any) -> set[str]:
    """Logical ids a template fragment refers to (Ref, Fn::GetAtt, ${...} in Fn::Sub)."""
    found: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                found.add(value)
            elif key == "Fn::GetAtt":
                target = value[0] if isinstance(value, list) else str(value).split(".")[0]
                found.add(target)
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                local = set(value[1]) if isinstance(value, list) else set()
                found |= {n for n in _SUB_NAME.findall(text) if n not in local}
                if isinstance(value, list):
                    found |= references(value[1])
            else:
                found |= references(value)
    elif isinstance(node, list):
        for item in node:
            found |= references(item)
    return found


def _replace_imports(node: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Fn::ImportValue"} and node["Fn::ImportValue"] in values:
            return values[node["Fn::ImportValue"]]
        return {k: _replace_imports(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace_imports(v, values) for v in node]
    return node


def _replace_refs(node: Any, values: Mapping[str, Any]) -> Any:
    if isinstance(node, dict):
        if set(node) == {"Ref"} and node["Ref"] in values:
            return copy.deepcopy(values[node["Ref"]])
        return {k: _replace_refs(v, values) for k, v in node.items()}
    if isinstance(node, list):
        return [_replace_refs(v, values) for v in node]
    return node


def for_emulator(
    template: Mapping[str, Any],
    *,
    imports: Mapping[str, Any] | None = None,
    creatable: set[str] | None = None,
) -> Rewritten:
    """The part of `template` the emulator can create, with `imports` (export name -> value)
    standing in for exports no deployed stack provides."""
    creatable = creatable if creatable is not None else creatable_types()
    out = copy.deepcopy(dict(template))
    out.pop("Transform", None)
    out.get("Parameters", {}).pop(BOOTSTRAP_PARAMETER, None)
    out.get("Rules", {}).pop(BOOTSTRAP_RULE, None)
    for key in ("Parameters", "Rules"):
        if not out.get(key):
            out.pop(key, None)
    out = _replace_imports(out, imports or {})
    aliases = {
        logical_id: resource["Properties"]["FunctionName"]["Ref"]
        for logical_id, resource in out["Resources"].items()
        if resource["Type"] == "AWS::Lambda::Alias" and "AWS::Lambda::Alias" not in creatable
    }
    if aliases:
        for logical_id in aliases:
            del out["Resources"][logical_id]
        out = _replace_refs(
            out, {alias: {"Fn::GetAtt": [function, "Arn"]} for alias, function in aliases.items()}
        )
    resources: dict[str, Any] = out["Resources"]
    result = Rewritten(template=out, aliased=aliases)

    for logical_id, resource in list(resources.items()):
        if resource["Type"] not in creatable:
            result.unsupported[logical_id] = resource["Type"]
            result.dropped[logical_id] = f"{resource['Type']} is not supported by the emulator"
    changed = True
    while changed:
        changed = False
        for logical_id, resource in resources.items():
            if logical_id in result.dropped:
                continue
            missing = sorted(references(resource.get("Properties", {})) & set(result.dropped))
            if missing:
                result.dropped[logical_id] = f"refers to {', '.join(missing)}"
                changed = True
    for logical_id in result.dropped:
        del resources[logical_id]
    for resource in resources.values():
        depends = resource.get("DependsOn")
        if isinstance(depends, str):
            depends = [depends]
        if depends is not None:
            kept = [d for d in depends if d not in result.dropped]
            if kept:
                resource["DependsOn"] = kept
            else:
                resource.pop("DependsOn")
        if resource["Type"] == "AWS::StepFunctions::StateMachine":
            props = resource["Properties"]
            substitutions = props.pop("DefinitionSubstitutions", None)
            if substitutions:
                props["DefinitionString"] = _substituted(props["DefinitionString"], substitutions)
    outputs = out.get("Outputs", {})
    for name, output in list(outputs.items()):
        if references(output) & set(result.dropped):
            del outputs[name]
    return result


def _substituted(definition: str, substitutions: Mapping[str, Any]) -> dict[str, Any]:
    """`${name}` placeholders replaced by their values, as CloudFormation does."""
    pattern = re.compile(r"\$\{(" + "|".join(map(re.escape, substitutions)) + r")\}")
    parts: list[Any] = []
    position = 0
    for match in pattern.finditer(definition):
        parts += [definition[position : match.start()], substitutions[match.group(1)]]
        position = match.end()
    parts.append(definition[position:])
    return {"Fn::Join": ["", parts]}


def _zip_directory(directory: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                archive.write(path, path.relative_to(directory).as_posix())
    return buffer.getvalue()


def upload_assets(s3: Any, assets_manifest: Path, *, account: str, region: str) -> int:
    """Publish a stack's file assets as `cdk deploy` would; returns how many were uploaded."""
    manifest = json.loads(assets_manifest.read_text())
    uploaded = 0
    for asset in manifest.get("files", {}).values():
        source = assets_manifest.parent / asset["source"]["path"]
        if asset["source"].get("packaging") == "zip" or source.is_dir():
            body = _zip_directory(source)
        else:
            body = source.read_bytes()
        for destination in asset["destinations"].values():
            bucket = (
                destination["bucketName"]
                .replace("${AWS::AccountId}", account)
                .replace("${AWS::Region}", region)
            )
            existing = {b["Name"] for b in s3.list_buckets().get("Buckets", [])}
            if bucket not in existing:
                s3.create_bucket(Bucket=bucket)
            s3.put_object(Bucket=bucket, Key=destination["objectKey"], Body=body)
            uploaded += 1
    return uploaded


def create_stack(cloudformation: Any, name: str, template: Mapping[str, Any]) -> dict[str, str]:
    """Create the stack; returns its outputs. Fails with the reason if creation failed."""
    cloudformation.create_stack(
        StackName=name,
        TemplateBody=json.dumps(template),
        Capabilities=["CAPABILITY_IAM", "CAPABILITY_NAMED_IAM", "CAPABILITY_AUTO_EXPAND"],
    )
    (stack,) = cloudformation.describe_stacks(StackName=name)["Stacks"]
    if stack["StackStatus"] != "CREATE_COMPLETE":
        events = cloudformation.describe_stack_events(StackName=name)["StackEvents"]
        reasons = [e.get("ResourceStatusReason") for e in events if e.get("ResourceStatusReason")]
        raise AssertionError(f"{name}: {stack['StackStatus']}: {reasons[:5]}")
    return {o["OutputKey"]: o["OutputValue"] for o in stack.get("Outputs", [])}


def imported(template: Any) -> set[str]:
    """Export names a template imports."""
    if isinstance(template, dict):
        found = {template["Fn::ImportValue"]} if set(template) == {"Fn::ImportValue"} else set()
        return found.union(*(imported(v) for v in template.values()))
    if isinstance(template, list):
        return set().union(*(imported(v) for v in template))
    return set()


def unresolved_imports(
    consumer: Mapping[str, Any], producer: Mapping[str, Any], exported: set[str]
) -> dict[str, str]:
    """The consumer's imports that no deployed export provides, each with the type of the
    producer's resource behind it (what a stand-in value must look like)."""
    by_export = {
        o["Export"]["Name"]: o["Value"]
        for o in producer.get("Outputs", {}).values()
        if "Export" in o
    }
    missing: dict[str, str] = {}
    for name in sorted(imported(consumer) - exported):
        (logical_id,) = references(by_export[name])
        missing[name] = producer["Resources"][logical_id]["Type"]
    return missing


def hand_over_state_machines(cloudformation: Any, sfn: Any, stack_name: str) -> dict[str, str]:
    """Move the stack's state machines to the backend that executes them; returns their ARNs
    by name. Reads moto's backend in this process: the definition as CloudFormation resolved
    it, substitutions filled in."""
    from moto.stepfunctions.models import stepfunctions_backends

    machines: dict[str, str] = {}
    resources = cloudformation.describe_stack_resources(StackName=stack_name)["StackResources"]
    for resource in resources:
        if resource["ResourceType"] != "AWS::StepFunctions::StateMachine":
            continue
        arn = resource["PhysicalResourceId"]
        _, _, _, region, account, *_ = arn.split(":")
        created = stepfunctions_backends[account][region].describe_state_machine(arn)
        handed = sfn.create_state_machine(
            name=created.name,
            definition=created.definition,
            roleArn=created.roleArn,
            type="STANDARD",
        )["stateMachineArn"]
        assert handed == arn, (handed, arn)
        machines[created.name] = arn
    return machines
