"""SageMaker training-job calls: describe, tags, stop, and the search for running jobs.

Errors are sorted into what callers act on: :class:`TrainingJobNotFound` (deleted, or never
existed) and :class:`TrainingJobNotStoppable` (already stopping or finished). Everything else
(AccessDenied, throttling after botocore's own retries) propagates as botocore's ClientError.
No thresholds live here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from greenrail.aws import client, error_code, pages
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
    return code == "ValidationException" and ("not found" in message or "could not find" in message
                                              or "does not exist" in message)


@contextmanager
def translated(name: str, gone: type[Exception] = TrainingJobNotFound,
               refused: type[Exception] | None = None) -> Iterator[None]:
    """A SageMaker call's errors as callers act on them: not found is ``gone(name)``; with
    ``refused``, any other ValidationException is ``refused(message)`` (the resource's state
    refuses the action). Everything else propagates."""
    try:
        yield
    except Exception as exc:
        if _is_not_found(exc):
            raise gone(name) from exc
        if refused is not None and error_code(exc) == "ValidationException":
            raise refused(_message(exc)) from exc
        raise


@calls("sagemaker:DescribeTrainingJob")
def describe_training_job(name: str, region: str | None = None) -> dict[str, Any]:
    with translated(name):
        response: dict[str, Any] = client("sagemaker", region).describe_training_job(TrainingJobName=name)
    return response


@calls("sagemaker:ListTags")
def list_tags(arn: str, region: str | None = None) -> dict[str, str]:
    operation = client("sagemaker", region).list_tags
    return {tag["Key"]: tag["Value"] for tag in pages(operation, "Tags", ResourceArn=arn, MaxResults=100)}


@calls("sagemaker:StopTrainingJob")
def stop_training_job(name: str, region: str | None = None) -> None:
    with translated(name, refused=TrainingJobNotStoppable):
        client("sagemaker", region).stop_training_job(TrainingJobName=name)


@calls("sagemaker:Search")
def search_in_progress_training_jobs(region: str | None = None) -> Iterator[dict[str, Any]]:
    """Every InProgress training job, as Search's ``TrainingJob`` records (tags inline)."""
    return _search_in_progress(region, "TrainingJob", "TrainingJobStatus")


@calls("sagemaker:Search")
def _search_in_progress(region: str | None, resource: str, status_field: str) -> Iterator[dict[str, Any]]:
    """Search's ``resource`` records whose ``status_field`` is InProgress, 100 a page."""
    results = pages(client("sagemaker", region).search, "Results", Resource=resource,
                    SearchExpression={"Filters": [{"Name": status_field, "Operator": "Equals", "Value": "InProgress"}]},
                    MaxResults=SEARCH_PAGE_SIZE)
    return (result[resource] for result in results if result.get(resource))


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


# ---------------------------------------------------------------- tuning jobs, processing jobs, warm pools
LIST_PAGE_SIZE = 100  # ListTrainingJobsForHyperParameterTuningJob, ListProcessingJobs, ListTrainingJobs: MaxResults <= 100
MAX_CHILD_PAGES = 20  # a tuning job's children read at most 2,000 (the rest is flagged truncated)


@calls("sagemaker:DescribeHyperParameterTuningJob")
def describe_tuning_job(name: str, region: str | None = None) -> dict[str, Any]:
    with translated(name):
        response: dict[str, Any] = client("sagemaker", region).describe_hyper_parameter_tuning_job(
            HyperParameterTuningJobName=name)
    return response


@calls("sagemaker:ListTrainingJobsForHyperParameterTuningJob")
def tuning_job_children(name: str, max_pages: int | None = None,
                        region: str | None = None) -> tuple[list[dict[str, Any]], bool]:
    """The tuning job's training jobs (summaries), at most ``max_pages`` pages (default
    :data:`MAX_CHILD_PAGES`); True when more remain."""
    kwargs: dict[str, Any] = {"HyperParameterTuningJobName": name, "MaxResults": LIST_PAGE_SIZE}
    children: list[dict[str, Any]] = []
    for _ in range(max_pages or MAX_CHILD_PAGES):
        response = client("sagemaker", region).list_training_jobs_for_hyper_parameter_tuning_job(**kwargs)
        children.extend(response.get("TrainingJobSummaries", []))
        token = response.get("NextToken")
        if not token:
            return children, False
        kwargs["NextToken"] = token
    return children, True


@calls("sagemaker:StopHyperParameterTuningJob")
def stop_tuning_job(name: str, region: str | None = None) -> None:
    with translated(name, refused=TrainingJobNotStoppable):
        client("sagemaker", region).stop_hyper_parameter_tuning_job(HyperParameterTuningJobName=name)


@calls("sagemaker:DescribeProcessingJob")
def describe_processing_job(name: str, region: str | None = None) -> dict[str, Any]:
    with translated(name):
        response: dict[str, Any] = client("sagemaker", region).describe_processing_job(ProcessingJobName=name)
    return response


@calls("sagemaker:StopProcessingJob")
def stop_processing_job(name: str, region: str | None = None) -> None:
    with translated(name, refused=TrainingJobNotStoppable):
        client("sagemaker", region).stop_processing_job(ProcessingJobName=name)


@calls("sagemaker:UpdateTrainingJob")
def release_warm_pool(name: str, region: str | None = None) -> None:
    """KeepAlivePeriodInSeconds 0: SageMaker terminates the job's retained (warm pool) instances."""
    with translated(name, refused=TrainingJobNotStoppable):
        client("sagemaker", region).update_training_job(
            TrainingJobName=name, ResourceConfig={"KeepAlivePeriodInSeconds": 0})


@calls("sagemaker:Search")
def search_in_progress_tuning_jobs(region: str | None = None) -> Iterator[dict[str, Any]]:
    """Every InProgress tuning job, as Search's ``HyperParameterTuningJob`` records (tags inline)."""
    return _search_in_progress(region, "HyperParameterTuningJob", "HyperParameterTuningJobStatus")


@calls("sagemaker:ListProcessingJobs")
def in_progress_processing_job_names(region: str | None = None) -> Iterator[str]:
    summaries = pages(client("sagemaker", region).list_processing_jobs, "ProcessingJobSummaries",
                      StatusEquals="InProgress", MaxResults=LIST_PAGE_SIZE)
    return (summary["ProcessingJobName"] for summary in summaries)


@calls("sagemaker:ListTrainingJobs")
def warm_pool_job_names(region: str | None = None) -> Iterator[str]:
    """Training jobs whose warm pool is Available (kept warm, not reused)."""
    summaries = pages(client("sagemaker", region).list_training_jobs, "TrainingJobSummaries",
                      WarmPoolStatusEquals="Available", MaxResults=LIST_PAGE_SIZE)
    return (summary["TrainingJobName"] for summary in summaries)
