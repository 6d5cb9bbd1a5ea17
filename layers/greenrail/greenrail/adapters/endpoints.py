"""SageMaker real-time endpoints, Inference Recommender, their alarms and autoscaling targets.

The calls of the endpoints policy (``greenrail.policies.endpoints``), each declared with
``@calls``. Errors are sorted into what callers act on: :class:`EndpointGone` (deleted, or never
existed), :class:`ConfigExists` (a retried CreateEndpointConfig), :class:`UpdateRefused`
(UpdateEndpoint's ValidationException or ResourceLimitExceeded, with the code). Everything else
(AccessDenied, throttling after botocore's own retries) propagates as botocore's ClientError.
The waiter of a deployment (the rightsizing workflow's Task token, kept in Greenrail's state
table until the endpoint's next deployment event resumes it) lives here too. No thresholds live here.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

from greenrail.adapters.sagemaker import _is_not_found, _message, translated
from greenrail.adapters.sagemaker import list_tags as list_tags  # SageMaker's ListTags, one declaration
from greenrail.aws import client, error_code, pages
from greenrail.permissions import calls
from greenrail.settings import settings

GREENRAIL_TAG = "greenrail:policy"  # on what Greenrail creates: endpoint configs, alarms
ROLLED_BACK_TAG = "greenrail:endpoints-rolled-back"  # on an endpoint: the model digest whose downsize rolled back
RECOMMENDATION_PAGE = 100  # ListInferenceRecommendationsJobs MaxResults: 1-100
IGNORED_JOB_STATUSES = frozenset({"FAILED", "STOPPED", "STOPPING", "DELETING", "DELETED"})
PENDING_JOB_STATUSES = frozenset({"PENDING", "IN_PROGRESS"})


class EndpointGone(Exception):
    """The endpoint (or its config) does not exist (any more)."""


class ConfigExists(Exception):
    """An endpoint config of that name exists already (a retried create)."""


class UpdateRefused(Exception):
    """UpdateEndpoint refused the deployment (the code says why); nothing changed."""

    def __init__(self, code: str, message: str):
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


# ---------------------------------------------------------------- endpoints
@calls("sagemaker:ListEndpoints")
def list_endpoints(region: str | None = None) -> Iterator[dict[str, Any]]:
    """Every endpoint's summary (name, ARN, status, times), 100 a page."""
    return pages(client("sagemaker", region).list_endpoints, "Endpoints", MaxResults=100)


@calls("sagemaker:DescribeEndpoint")
def describe_endpoint(name: str, region: str | None = None) -> dict[str, Any]:
    with translated(name, gone=EndpointGone):
        response: dict[str, Any] = client("sagemaker", region).describe_endpoint(EndpointName=name)
    return response


@calls("sagemaker:DescribeEndpointConfig")
def describe_endpoint_config(name: str, region: str | None = None) -> dict[str, Any]:
    with translated(name, gone=EndpointGone):
        response: dict[str, Any] = client("sagemaker", region).describe_endpoint_config(EndpointConfigName=name)
    return response


@calls("sagemaker:AddTags")
def tag_endpoint(arn: str, tags: dict[str, str], region: str | None = None) -> None:
    """Mark an endpoint (the model digest whose downsize rolled back: not tried again for that model)."""
    client("sagemaker", region).add_tags(ResourceArn=arn, Tags=[{"Key": k, "Value": v} for k, v in tags.items()])


# Everything of DescribeEndpointConfig's answer that CreateEndpointConfig takes back.
_CONFIG_FIELDS = ("DataCaptureConfig", "KmsKeyId", "AsyncInferenceConfig", "ExplainerConfig", "ShadowProductionVariants",
                  "ExecutionRoleArn", "VpcConfig", "EnableNetworkIsolation", "MetricsConfig", "CrossRegionTrafficConfig")


def resized_config(current: dict[str, Any], variant: str, instance_type: str, instance_count: int) -> dict[str, Any]:
    """CreateEndpointConfig's arguments: everything copied from ``current`` (DescribeEndpointConfig),
    but one variant's instance type and count (same variant name: deployment guardrails need it)."""
    variants = []
    for production in current.get("ProductionVariants", []):
        copied = dict(production)
        if copied.get("VariantName") == variant:
            copied.update(InstanceType=instance_type, InitialInstanceCount=instance_count)
        variants.append(copied)
    request = {key: current[key] for key in _CONFIG_FIELDS if current.get(key) not in (None, [], {})}
    request["ProductionVariants"] = variants
    return request


@calls("sagemaker:CreateEndpointConfig", "sagemaker:AddTags")
def create_endpoint_config(name: str, request: dict[str, Any], tags: dict[str, str], region: str | None = None) -> str:
    """Create the config (Greenrail's tags on it); :class:`ConfigExists` when it exists already."""
    try:
        response = client("sagemaker", region).create_endpoint_config(
            EndpointConfigName=name, Tags=[{"Key": k, "Value": v} for k, v in tags.items()], **request)
    except Exception as exc:
        if error_code(exc) == "ValidationException" and "already exist" in _message(exc).lower():
            raise ConfigExists(name) from exc
        raise
    return str(response["EndpointConfigArn"])


@calls("sagemaker:UpdateEndpoint")
def update_endpoint(name: str, config_name: str, deployment: dict[str, Any], region: str | None = None) -> str:
    """Start a guarded deployment of ``config_name`` (DeploymentConfig: blue/green and rollback alarms)."""
    try:
        response = client("sagemaker", region).update_endpoint(
            EndpointName=name, EndpointConfigName=config_name, DeploymentConfig=deployment)
    except Exception as exc:
        if _is_not_found(exc):
            raise EndpointGone(name) from exc
        if error_code(exc) in ("ValidationException", "ResourceLimitExceeded"):
            raise UpdateRefused(error_code(exc), _message(exc)) from exc
        raise
    return str(response["EndpointArn"])


@calls("sagemaker:DeleteEndpoint")
def delete_endpoint(name: str, region: str | None = None) -> None:
    """Delete the endpoint; its endpoint config (and model) stay, so it can be recreated."""
    with translated(name, gone=EndpointGone):
        client("sagemaker", region).delete_endpoint(EndpointName=name)


# ---------------------------------------------------------------- Inference Recommender
@calls("sagemaker:ListInferenceRecommendationsJobs")
def recommendation_jobs(model_name: str | None = None, model_package_arn: str | None = None,
                        region: str | None = None) -> list[dict[str, Any]]:
    """The model's Inference Recommender jobs, newest first (first page: 100 is plenty)."""
    kwargs: dict[str, Any] = {"SortBy": "CreationTime", "SortOrder": "Descending", "MaxResults": RECOMMENDATION_PAGE}
    if model_package_arn:
        kwargs["ModelPackageVersionArnEquals"] = model_package_arn
    elif model_name:
        kwargs["ModelNameEquals"] = model_name
    else:
        return []
    jobs: list[dict[str, Any]] = client("sagemaker", region).list_inference_recommendations_jobs(
        **kwargs).get("InferenceRecommendationsJobs", [])
    return sorted(jobs, key=lambda job: str(job.get("CreationTime", "")), reverse=True)


@calls("sagemaker:DescribeInferenceRecommendationsJob")
def describe_recommendation_job(name: str, region: str | None = None) -> dict[str, Any]:
    with translated(name, gone=EndpointGone):
        response: dict[str, Any] = client("sagemaker", region).describe_inference_recommendations_job(JobName=name)
    return response


@calls("sagemaker:CreateInferenceRecommendationsJob", "sagemaker:AddTags", "iam:PassRole")
def start_recommendation_job(name: str, model_name: str, role_arn: str, tags: dict[str, str],
                             region: str | None = None) -> str:
    """Start a Default job for the model (about 45 minutes); returns its name. A job of that
    name that exists already (a retried start) counts as started."""
    try:
        client("sagemaker", region).create_inference_recommendations_job(
            JobName=name, JobType="Default", RoleArn=role_arn, InputConfig={"ModelName": model_name},
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()])
    except Exception as exc:
        if error_code(exc) in ("ResourceInUse", "ValidationException") and "exist" in _message(exc).lower():
            return name
        raise
    return name


# ---------------------------------------------------------------- alarms and autoscaling
@calls("cloudwatch:PutMetricAlarm", "cloudwatch:TagResource")
def put_variant_alarm(name: str, description: str, endpoint: str, variant: str, metric: str, statistic: str,
                      threshold: float, tags: dict[str, str], region: str | None = None) -> None:
    """An alarm on one variant's metric (namespace AWS/SageMaker), over 1-minute periods, that
    the deployment's AutoRollbackConfiguration watches. ``statistic``: Sum, Average or p99."""
    kwargs: dict[str, Any] = {
        "AlarmName": name, "AlarmDescription": description, "Namespace": "AWS/SageMaker", "MetricName": metric,
        "Dimensions": [{"Name": "EndpointName", "Value": endpoint}, {"Name": "VariantName", "Value": variant}],
        "Period": 60, "EvaluationPeriods": 3, "DatapointsToAlarm": 2, "Threshold": threshold,
        "ComparisonOperator": "GreaterThanThreshold", "TreatMissingData": "notBreaching",
        "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
    }
    if statistic.startswith("p"):
        kwargs["ExtendedStatistic"] = statistic
    else:
        kwargs["Statistic"] = statistic
    client("cloudwatch", region).put_metric_alarm(**kwargs)


@calls("application-autoscaling:DescribeScalableTargets")
def scaled_variants(region: str | None = None) -> set[str]:
    """The ResourceIds (``endpoint/<name>/variant/<variant>``) with an Application Auto Scaling target."""
    targets = pages(client("application-autoscaling", region).describe_scalable_targets, "ScalableTargets",
                    ServiceNamespace="sagemaker")
    return {str(t["ResourceId"]) for t in targets if t.get("ScalableDimension") == "sagemaker:variant:DesiredInstanceCount"}


# ---------------------------------------------------------------- the deployment's waiter (state table)
def _waiter_key(account: str, region: str, endpoint: str) -> dict[str, Any]:
    # endpoint names are case-insensitive (their ARNs are lower case)
    return {"id": {"S": f"endpoint-deployment-waiter#{account}:{region}:{endpoint.lower()}"}}


@calls("dynamodb:PutItem", central=True)
def remember_waiter(account: str, region: str, endpoint: str, token: str, keep_seconds: int) -> bool:
    """Keep the Task token of the workflow waiting for this endpoint's next deployment event
    (replacing an older one); False when Greenrail has no state table (the workflow then polls)."""
    table = settings().state_table
    if not table:
        return False
    client("dynamodb").put_item(TableName=table, Item={
        **_waiter_key(account, region, endpoint), "token": {"S": token},
        "expiration": {"N": str(int(time.time()) + keep_seconds)}})
    return True


@calls("dynamodb:DeleteItem", central=True)
def claim_waiter(account: str, region: str, endpoint: str) -> str | None:
    """The waiting Task token for this endpoint, taken (deleted) so that only one event resumes it."""
    table = settings().state_table
    if not table:
        return None
    response = client("dynamodb").delete_item(TableName=table, Key=_waiter_key(account, region, endpoint),
                                              ReturnValues="ALL_OLD")
    token = response.get("Attributes", {}).get("token", {}).get("S")
    return str(token) if token else None
