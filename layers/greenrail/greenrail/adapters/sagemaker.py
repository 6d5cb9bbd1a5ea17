"""SageMaker training-job calls: describe, tags, stop, and the search for running jobs.

Errors are sorted into what callers act on: :class:`TrainingJobNotFound` (deleted, or never
existed) and :class:`TrainingJobNotStoppable` (already stopping or finished). Everything else
(AccessDenied, throttling after botocore's own retries) propagates as botocore's ClientError.
No thresholds live here.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from greenrail.aws import client, error_code
from greenrail.permissions import calls

SEARCH_PAGE_SIZE = 100  # Search accepts MaxResults up to 100


class TrainingJobNotFound(Exception):
    """The job does not exist (any more)."""


class TrainingJobNotStoppable(Exception):
    """StopTrainingJob refused: the job is not InProgress."""


def _message(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Message", ""))
    return str(exc)


def _is_not_found(exc: BaseException) -> bool:
    code = error_code(exc)
    if code in ("ResourceNotFound", "ResourceNotFoundException"):
        return True
    # DescribeTrainingJob answers ValidationException "Requested resource not found" /
    # "Could not find training job" for an unknown name.
    message = _message(exc).lower()
    return code == "ValidationException" and ("not found" in message or "could not find" in message)


@calls("sagemaker:DescribeTrainingJob")
def describe_training_job(name: str, region: str | None = None) -> dict[str, Any]:
    try:
        response: dict[str, Any] = client("sagemaker", region).describe_training_job(TrainingJobName=name)
    except Exception as exc:
        if _is_not_found(exc):
            raise TrainingJobNotFound(name) from exc
        raise
    return response


@calls("sagemaker:ListTags")
def list_tags(arn: str, region: str | None = None) -> dict[str, str]:
    tags: dict[str, str] = {}
    kwargs: dict[str, Any] = {"ResourceArn": arn, "MaxResults": 100}
    while True:
        response = client("sagemaker", region).list_tags(**kwargs)
        tags.update({tag["Key"]: tag["Value"] for tag in response.get("Tags", [])})
        token = response.get("NextToken")
        if not token:
            return tags
        kwargs["NextToken"] = token


@calls("sagemaker:StopTrainingJob")
def stop_training_job(name: str, region: str | None = None) -> None:
    try:
        client("sagemaker", region).stop_training_job(TrainingJobName=name)
    except Exception as exc:
        if _is_not_found(exc):
            raise TrainingJobNotFound(name) from exc
        if error_code(exc) == "ValidationException":
            raise TrainingJobNotStoppable(_message(exc)) from exc
        raise


@calls("sagemaker:Search")
def search_in_progress_training_jobs(region: str | None = None) -> Iterator[dict[str, Any]]:
    """Every InProgress training job, as Search's ``TrainingJob`` records (tags inline)."""
    kwargs: dict[str, Any] = {
        "Resource": "TrainingJob",
        "SearchExpression": {
            "Filters": [{"Name": "TrainingJobStatus", "Operator": "Equals", "Value": "InProgress"}]
        },
        "MaxResults": SEARCH_PAGE_SIZE,
    }
    while True:
        response = client("sagemaker", region).search(**kwargs)
        for result in response.get("Results", []):
            job = result.get("TrainingJob")
            if job:
                yield job
        token = response.get("NextToken")
        if not token:
            return
        kwargs["NextToken"] = token


class EndpointNotFound(Exception):
    """The endpoint does not exist (any more)."""


@calls("sagemaker:DescribeEndpoint")
def describe_endpoint(name: str, region: str | None = None) -> dict[str, Any]:
    try:
        response: dict[str, Any] = client("sagemaker", region).describe_endpoint(EndpointName=name)
    except Exception as exc:
        if _is_not_found(exc) or error_code(exc) == "ValidationException":
            raise EndpointNotFound(name) from exc
        raise
    return response
