"""Deploy ``template.yaml`` into the emulator the way AWS does it.

1. The SAM transform, offline: ``aws-sam-translator`` with its bundled managed-policy map.
   Local ``CodeUri``/``ContentUri`` become placeholder S3 locations (as ``sam validate`` does)
   and are remembered; ``DefinitionUri`` files are inlined so the translator keeps their
   ``DefinitionSubstitutions``.
2. The resources, in dependency order, through the AWS APIs of the emulated account
   (boto3 against moto), with intrinsic functions resolved. moto's CloudFormation is not used:
   it silently skips resource types and properties Greenrail depends on (DESIGN.md).

Functions are registered with the in-process Lambda runtime so that their real handlers run.
"""

from __future__ import annotations

import copy
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from greenrail.aws import client
from greenrail_cli.emulator.iam import member_role_actions, role_actions, role_of
from greenrail_cli.emulator.runtime import FunctionSpec, LambdaRuntime

PLACEHOLDER_BUCKET = "greenrail-emulator-artifacts"


class DeployError(Exception):
    pass


@dataclass
class Stack:
    name: str
    account: str
    region: str
    template: dict[str, Any]
    parameters: dict[str, str]
    physical: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, dict[str, str]] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    schedules: dict[str, dict[str, Any]] = field(default_factory=dict)
    outputs: dict[str, Any] = field(default_factory=dict)

    def resource_type(self, logical_id: str) -> str:
        return str(self.template["Resources"][logical_id]["Type"])


# ---------------------------------------------------------------- SAM transform
def load_template(path: Path) -> dict[str, Any]:
    from samtranslator.yaml_helper import yaml_parse

    return dict(yaml_parse(path.read_text()))


def sam_transform(template: dict[str, Any], root: Path, parameters: dict[str, str]) -> tuple[dict[str, Any], dict[str, tuple[Path, str]]]:
    """Run the SAM transform offline; returns the CloudFormation template and each function's code."""
    from samtranslator.internal.managed_policies import get_bundled_managed_policy_map
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator

    template = copy.deepcopy(template)
    code: dict[str, tuple[Path, str]] = {}
    handler_default = template.get("Globals", {}).get("Function", {}).get("Handler")
    for logical_id, resource in template.get("Resources", {}).items():
        props = resource.get("Properties", {})
        kind = resource.get("Type")
        if kind == "AWS::Serverless::Function" and isinstance(props.get("CodeUri"), str):
            code[logical_id] = (root / props["CodeUri"], props.get("Handler", handler_default))
            props["CodeUri"] = f"s3://{PLACEHOLDER_BUCKET}/{logical_id}.zip"
        elif kind == "AWS::Serverless::LayerVersion" and isinstance(props.get("ContentUri"), str):
            props["ContentUri"] = f"s3://{PLACEHOLDER_BUCKET}/{logical_id}.zip"
        elif kind == "AWS::Serverless::StateMachine" and isinstance(props.get("DefinitionUri"), str):
            props["Definition"] = json.loads((root / props.pop("DefinitionUri")).read_text())

    translator = Translator(None, Parser())
    cfn = translator.translate(
        template,
        parameter_values=dict(parameters),
        get_managed_policy_map=lambda: get_bundled_managed_policy_map("aws") or {},
    )
    # Remember which generated function came from which SAM function (same logical id).
    return cfn, code


# ---------------------------------------------------------------- intrinsics
class Resolver:
    def __init__(self, stack: Stack):
        self.stack = stack
        self.pseudo = {
            "AWS::AccountId": stack.account,
            "AWS::Region": stack.region,
            "AWS::Partition": "aws",
            "AWS::StackName": stack.name,
            "AWS::StackId": f"arn:aws:cloudformation:{stack.region}:{stack.account}:stack/{stack.name}/emulated",
            "AWS::URLSuffix": "amazonaws.com",
        }
        self.conditions: dict[str, bool] = {}

    def evaluate_conditions(self) -> None:
        for name, expression in self.stack.template.get("Conditions", {}).items():
            self.conditions[name] = bool(self.resolve(expression))

    def ref(self, name: str) -> Any:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.stack.parameters:
            return self.stack.parameters[name]
        if name in self.stack.physical:
            return self.stack.physical[name]
        raise DeployError(f"Ref to {name!r}, which is not deployed yet or unknown")

    def get_att(self, logical_id: str, attribute: str) -> Any:
        try:
            return self.stack.attributes[logical_id][attribute]
        except KeyError as exc:
            raise DeployError(f"Fn::GetAtt {logical_id}.{attribute} is not available") from exc

    def resolve(self, value: Any) -> Any:  # noqa: C901 - one branch per intrinsic
        if isinstance(value, list):
            return [item for item in (self.resolve(v) for v in value) if item is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref":
                return _NO_VALUE if arg == "AWS::NoValue" else self.ref(arg)
            if key == "Fn::GetAtt":
                logical_id, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(logical_id, attribute)
            if key == "Fn::Sub":
                return self.sub(arg)
            if key == "Fn::Join":
                separator, items = arg
                return separator.join(str(i) for i in self.resolve(items))
            if key == "Fn::If":
                name, when_true, when_false = arg
                return self.resolve(when_true if self.conditions[name] else when_false)
            if key == "Fn::Equals":
                left, right = self.resolve(arg)
                return str(left) == str(right)
            if key == "Fn::Not":
                return not self.resolve(arg[0])
            if key == "Fn::And":
                return all(self.resolve(a) for a in arg)
            if key == "Fn::Or":
                return any(self.resolve(a) for a in arg)
            if key == "Condition":
                return self.conditions[arg]
            if key == "Fn::Select":
                index, items = arg
                return self.resolve(items)[int(index)]
            if key == "Fn::Split":
                separator, text = arg
                return str(self.resolve(text)).split(separator)
            if key == "Fn::ToJsonString":
                return json.dumps(self.resolve(arg))
        return {k: v for k, v in ((k, self.resolve(v)) for k, v in value.items()) if v is not _NO_VALUE}

    def sub(self, arg: Any) -> str:
        if isinstance(arg, list):
            text, variables = arg[0], {k: self.resolve(v) for k, v in arg[1].items()}
        else:
            text, variables = arg, {}

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(variables[name])
            if "." in name:
                logical_id, attribute = name.split(".", 1)
                return str(self.get_att(logical_id, attribute))
            return str(self.ref(name))

        return re.sub(r"\$\{([^}]+)\}", replace, text)


class _NoValue:
    pass


_NO_VALUE = _NoValue()


def _references(value: Any) -> set[str]:
    found: set[str] = set()
    if isinstance(value, list):
        for item in value:
            found |= _references(item)
    elif isinstance(value, dict):
        for key, arg in value.items():
            if key == "Ref" and isinstance(arg, str):
                found.add(arg)
            elif key == "Fn::GetAtt":
                found.add((arg if isinstance(arg, list) else arg.split("."))[0])
            elif key == "Fn::Sub":
                text = arg[0] if isinstance(arg, list) else arg
                found |= {m.split(".")[0] for m in re.findall(r"\$\{([^}!]+)\}", text)}
                if isinstance(arg, list):
                    found |= _references(arg[1])
            else:
                found |= _references(arg)
    return found


def deployment_order(resources: dict[str, Any]) -> list[str]:
    graph = {
        logical_id: (_references(resource) | set(_as_list(resource.get("DependsOn")))) & set(resources)
        for logical_id, resource in resources.items()
    }
    order: list[str] = []
    visiting: set[str] = set()

    def visit(node: str) -> None:
        if node in order:
            return
        if node in visiting:
            raise DeployError(f"circular dependency through {node}")
        visiting.add(node)
        for dependency in sorted(graph[node]):
            visit(dependency)
        visiting.discard(node)
        order.append(node)

    for node in sorted(graph):
        visit(node)
    return order


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else list(value)


# ---------------------------------------------------------------- resource creation
class Deployer:
    def __init__(self, stack: Stack, runtime: LambdaRuntime, code: dict[str, tuple[Path, str]]):
        self.stack = stack
        self.runtime = runtime
        self.code = code
        self.resolver = Resolver(stack)
        self.invoke_configs: dict[str, dict[str, Any]] = {}

    def _name(self, logical_id: str, limit: int = 64) -> str:
        return f"{self.stack.name}-{logical_id}"[:limit]

    def arn(self, service: str, resource: str) -> str:
        return f"arn:aws:{service}:{self.stack.region}:{self.stack.account}:{resource}"

    def deploy(self) -> Stack:
        resources = self.stack.template["Resources"]
        self.resolver.evaluate_conditions()
        # EventInvokeConfig is applied to the runtime once its function exists.
        for logical_id in deployment_order(resources):
            resource = resources[logical_id]
            condition = resource.get("Condition")
            if condition and not self.resolver.conditions.get(condition, True):
                continue
            props = self.resolver.resolve(resource.get("Properties", {}))
            creator = getattr(self, "create_" + resource["Type"].replace("::", "_"), None)
            if creator is None:
                self.stack.skipped[logical_id] = resource["Type"]
                self.stack.physical[logical_id] = self._name(logical_id)
                self.stack.attributes[logical_id] = {"Arn": self.arn("emulated", logical_id)}
                continue
            creator(logical_id, props)
        for name, output in self.stack.template.get("Outputs", {}).items():
            self.stack.outputs[name] = self.resolver.resolve(output.get("Value"))
        return self.stack

    def _set(self, logical_id: str, physical: str, **attributes: str) -> None:
        self.stack.physical[logical_id] = physical
        self.stack.attributes[logical_id] = attributes

    # -- one method per resource type ---------------------------------------------------
    def create_AWS_Events_EventBus(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props["Name"]
        arn = client("events").create_event_bus(Name=name)["EventBusArn"]
        self._set(logical_id, name, Arn=arn, Name=name)

    def create_AWS_Events_Rule(self, logical_id: str, props: dict[str, Any]) -> None:
        events = client("events")
        name = props.get("Name") or self._name(logical_id)
        bus = props.get("EventBusName", "default")
        kwargs: dict[str, Any] = {"Name": name, "EventBusName": bus, "State": props.get("State", "ENABLED")}
        if "EventPattern" in props:
            kwargs["EventPattern"] = json.dumps(props["EventPattern"])
        if "ScheduleExpression" in props:
            kwargs["ScheduleExpression"] = props["ScheduleExpression"]
        arn = events.put_rule(**kwargs)["RuleArn"]
        targets = [
            {k: v for k, v in target.items() if k in ("Id", "Arn", "Input", "InputPath", "InputTransformer",
                                                     "RoleArn", "RetryPolicy", "DeadLetterConfig")}
            for target in props.get("Targets", [])
        ]
        if targets:
            events.put_targets(Rule=name, EventBusName=bus, Targets=targets)
        self._set(logical_id, name, Arn=arn)

    def create_AWS_DynamoDB_Table(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("TableName") or self._name(logical_id)
        dynamodb = client("dynamodb")
        response = dynamodb.create_table(
            TableName=name,
            AttributeDefinitions=props["AttributeDefinitions"],
            KeySchema=props["KeySchema"],
            BillingMode=props.get("BillingMode", "PAY_PER_REQUEST"),
        )
        ttl = props.get("TimeToLiveSpecification")
        if ttl:
            dynamodb.update_time_to_live(TableName=name, TimeToLiveSpecification=ttl)
        self._set(logical_id, name, Arn=response["TableDescription"]["TableArn"])

    def create_AWS_SNS_Topic(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("TopicName") or self._name(logical_id, 256)
        arn = client("sns").create_topic(Name=name)["TopicArn"]
        self._set(logical_id, arn, TopicName=name, TopicArn=arn)

    def create_AWS_SNS_Subscription(self, logical_id: str, props: dict[str, Any]) -> None:
        arn = client("sns").subscribe(TopicArn=props["TopicArn"], Protocol=props["Protocol"],
                                      Endpoint=props["Endpoint"])["SubscriptionArn"]
        self._set(logical_id, arn)

    def create_AWS_SQS_Queue(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("QueueName") or self._name(logical_id, 80)
        sqs = client("sqs")
        url = sqs.create_queue(QueueName=name)["QueueUrl"]
        arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
        self._set(logical_id, url, Arn=arn, QueueName=name, QueueUrl=url)

    def create_AWS_SSM_Parameter(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("Name") or f"CFN-{self._name(logical_id)}"
        client("ssm").put_parameter(Name=name, Value=props["Value"], Type=props.get("Type", "String"),
                                    Overwrite=True)
        self._set(logical_id, name, Type=props.get("Type", "String"), Value=props["Value"])

    def create_AWS_IAM_Role(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("RoleName") or self._name(logical_id)
        iam = client("iam")
        arn = iam.create_role(RoleName=name,
                              AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]))["Role"]["Arn"]
        for policy in props.get("Policies", []):
            # IAM reads a document without Version as 2008-10-17 (SAM's policy templates omit it);
            # moto refuses those, so the emulator states the version IAM would apply the statements under.
            document = {"Version": "2012-10-17", **policy["PolicyDocument"]}
            iam.put_role_policy(RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(document))
        self._set(logical_id, name, Arn=arn, RoleId=name)

    def create_AWS_CloudWatch_Alarm(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("AlarmName") or self._name(logical_id, 255)
        keys = ("AlarmDescription", "Namespace", "MetricName", "Dimensions", "Statistic", "Period",
                "EvaluationPeriods", "Threshold", "ComparisonOperator", "TreatMissingData", "AlarmActions")
        kwargs = {k: props[k] for k in keys if k in props}
        for number in ("Period", "EvaluationPeriods"):
            if number in kwargs:
                kwargs[number] = int(kwargs[number])
        if "Threshold" in kwargs:
            kwargs["Threshold"] = float(kwargs["Threshold"])
        client("cloudwatch").put_metric_alarm(AlarmName=name, **kwargs)
        self._set(logical_id, name, Arn=self.arn("cloudwatch", f"alarm:{name}"))

    def create_AWS_StepFunctions_StateMachine(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("StateMachineName") or self._name(logical_id, 80)
        definition = props.get("DefinitionString")
        if definition is None:
            definition = json.dumps(props["Definition"])
        for key, value in (props.get("DefinitionSubstitutions") or {}).items():
            definition = definition.replace("${" + key + "}", str(value))
        arn = client("stepfunctions").create_state_machine(
            name=name, definition=definition, roleArn=props["RoleArn"],
            type=props.get("StateMachineType", "STANDARD"),
        )["stateMachineArn"]
        self._set(logical_id, arn, Arn=arn, Name=name)

    def create_AWS_Lambda_Function(self, logical_id: str, props: dict[str, Any]) -> None:
        import io
        import zipfile

        name = props.get("FunctionName") or self._name(logical_id)
        buffer = io.BytesIO()
        with zipfile.ZipFile(buffer, "w") as archive:
            archive.writestr("app.py", "def handler(event, context):\n    return event\n")
        arn = client("lambda").create_function(
            FunctionName=name, Runtime=props.get("Runtime", "python3.12"), Role=props["Role"],
            Handler=props.get("Handler", "app.handler"), Code={"ZipFile": buffer.getvalue()},
            Timeout=int(props.get("Timeout", 3)), MemorySize=int(props.get("MemorySize", 128)),
            Environment=props.get("Environment", {"Variables": {}}),
        )["FunctionArn"]
        code_dir, handler = self.code.get(logical_id, (None, None))
        resources = self.stack.template["Resources"]
        role = role_of(resources[logical_id])
        granted = role_actions(resources, role, lambda name: self.resolver.conditions.get(name, False)) if role else None
        if code_dir is not None:
            self.runtime.register(FunctionSpec(
                logical_id=logical_id, name=name, arn=arn, code_dir=code_dir,
                handler=str(props.get("Handler", handler)),
                environment={k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()},
                memory_mb=int(props.get("MemorySize", 128)), timeout_seconds=int(props.get("Timeout", 3)),
                dead_letter_arn=(props.get("DeadLetterConfig") or {}).get("TargetArn"),
                granted_actions=granted,
            ))
        self._set(logical_id, name, Arn=arn)

    def create_AWS_Lambda_EventInvokeConfig(self, logical_id: str, props: dict[str, Any]) -> None:
        spec = self.runtime.find(props["FunctionName"])
        if spec is not None and "MaximumRetryAttempts" in props:
            spec.max_retry_attempts = int(props["MaximumRetryAttempts"])
        self._set(logical_id, f"{props['FunctionName']}-invoke-config")

    def create_AWS_S3_Bucket(self, logical_id: str, props: dict[str, Any]) -> None:
        # CloudFormation's generated name: <stack>-<logical id>-<suffix>, lower case
        name = props.get("BucketName") or f"{self.stack.name}-{logical_id}".lower()[:50] + "-emulated"
        s3 = client("s3")
        s3.create_bucket(Bucket=name)
        if "BucketEncryption" in props:
            s3.put_bucket_encryption(Bucket=name, ServerSideEncryptionConfiguration={"Rules": [
                {"ApplyServerSideEncryptionByDefault": rule["ServerSideEncryptionByDefault"]}
                for rule in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]]})
        if "PublicAccessBlockConfiguration" in props:
            s3.put_public_access_block(Bucket=name, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"])
        rules = (props.get("LifecycleConfiguration") or {}).get("Rules", [])
        if rules:
            s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [
                _lifecycle_rule(rule) for rule in rules]})
        self._set(logical_id, name, Arn=f"arn:aws:s3:::{name}", DomainName=f"{name}.s3.amazonaws.com")

    def create_AWS_S3_BucketPolicy(self, logical_id: str, props: dict[str, Any]) -> None:
        # Not applied: moto 5.2.5 evaluates a bucket policy's Deny without its Condition, so the
        # TLS-only statement (aws:SecureTransport false) would deny every request here.
        self.stack.skipped[logical_id] = "AWS::S3::BucketPolicy"
        self._set(logical_id, props["Bucket"])

    def create_AWS_KinesisFirehose_DeliveryStream(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("DeliveryStreamName") or self._name(logical_id)
        destination = props["ExtendedS3DestinationConfiguration"]
        client("firehose").create_delivery_stream(
            DeliveryStreamName=name, DeliveryStreamType=props.get("DeliveryStreamType", "DirectPut"),
            ExtendedS3DestinationConfiguration=destination)
        self._set(logical_id, name, Arn=self.arn("firehose", f"deliverystream/{name}"))

    def create_AWS_CloudWatch_Dashboard(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("DashboardName") or self._name(logical_id, 255)
        client("cloudwatch").put_dashboard(DashboardName=name, DashboardBody=props["DashboardBody"])
        self._set(logical_id, name)

    def create_AWS_Scheduler_ScheduleGroup(self, logical_id: str, props: dict[str, Any]) -> None:
        name = props.get("Name") or self._name(logical_id)
        tags = [{"Key": t["Key"], "Value": str(t["Value"])} for t in props.get("Tags", [])]
        arn = client("scheduler").create_schedule_group(Name=name, Tags=tags)["ScheduleGroupArn"]
        self._set(logical_id, name, Arn=arn)

    def create_AWS_Scheduler_Schedule(self, logical_id: str, props: dict[str, Any]) -> None:
        # moto's CloudFormation drops schedules; the emulator keeps them and fires them on demand.
        self.stack.schedules[logical_id] = props
        name = props.get("Name") or self._name(logical_id)
        self._set(logical_id, name, Arn=self.arn("scheduler", f"schedule/default/{name}"))


def register_outputs(stack: Stack) -> None:
    """Make ``DescribeStacks`` answer with the stack's outputs, as it does once AWS deployed it
    (``greenrail scan --mode enforce`` finds the bus and the state table there): moto's
    CloudFormation holds an empty stack of that name, the resources being the ones created here.
    Not part of :func:`deploy`: loading moto's CloudFormation takes seconds, and only the CLI reads it."""
    body = {"Resources": {}, "Outputs": {name: {"Value": str(value)} for name, value in stack.outputs.items()}}
    client("cloudformation").create_stack(StackName=stack.name, TemplateBody=json.dumps(body))


def _lifecycle_rule(rule: dict[str, Any]) -> dict[str, Any]:
    """A CloudFormation lifecycle rule as the S3 API takes it."""
    converted: dict[str, Any] = {"ID": rule.get("Id", "rule"), "Status": rule["Status"],
                                 "Filter": {"Prefix": rule.get("Prefix", "")}}
    if "ExpirationInDays" in rule:
        converted["Expiration"] = {"Days": int(rule["ExpirationInDays"])}
    if "AbortIncompleteMultipartUpload" in rule:
        converted["AbortIncompleteMultipartUpload"] = {
            "DaysAfterInitiation": int(rule["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"])}
    return converted


def deploy(template_path: Path, runtime: LambdaRuntime, account: str, region: str,
           stack_name: str = "greenrail", parameters: dict[str, str] | None = None) -> Stack:
    raw = load_template(template_path)
    values = {name: str(spec.get("Default", "")) for name, spec in raw.get("Parameters", {}).items()}
    values.update(parameters or {})
    cfn, code = sam_transform(raw, template_path.parent, values)
    stack = Stack(stack_name, account, region, cfn, values)
    deployed = Deployer(stack, runtime, code).deploy()
    member = template_path.parent / "org" / "member-account.yaml"
    if member.is_file():  # calls made through the member role are checked against it
        actions = member_role_actions(member)
        for spec in runtime.functions.values():
            if spec.granted_actions and "sts:AssumeRole" in spec.granted_actions:
                spec.member_actions = actions
    return deployed
