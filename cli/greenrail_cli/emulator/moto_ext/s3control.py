"""S3 Batch Operations: ``CreateJob``, ``DescribeJob`` and ``UpdateJobStatus`` (absent from moto 5.2.5).

A job created with ``ConfirmationRequired`` waits in ``Suspended`` until ``UpdateJobStatus``
(``RequestedJobStatus: Ready``) confirms it; one created without runs at once. Running a job
here carries out its ``S3PutObjectTagging`` operation on every object of its CSV manifest
(``Bucket,Key``, keys URL-encoded) in the emulated S3, replacing each object's whole tag set as
S3 does, and writes the completion report (``Report_CSV_20180820``:
``Bucket,Key,VersionId,TaskStatus,ErrorCode,HTTPStatusCode,ResultMessage``) under the report
prefix, ``job-<id>/results/<n>.csv`` with a ``job-<id>/manifest.json`` naming it.

Faults for tests: ``FAIL_KEYS`` (object keys whose task fails) and ``FAIL_AFTER`` (bucket -> N: a
job over that bucket's objects fails part-way, the tasks after its first N fail, and it ends
``Failed``; the report names every failed object).
"""

from __future__ import annotations

import csv
import io
import json
import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import unquote

from moto.core.responses import ActionResult
from moto.s3control import urls
from moto.s3control.models import S3ControlBackend
from moto.s3control.responses import S3ControlResponse

JOBS: dict[str, dict[str, Any]] = {}
FAIL_KEYS: set[str] = set()
FAIL_AFTER: dict[str, int] = {}  # bucket -> tasks done before its job fails


def reset() -> None:
    JOBS.clear()
    FAIL_KEYS.clear()
    FAIL_AFTER.clear()


def _now() -> datetime:
    from greenrail_cli.emulator.moto_ext import hooks

    now = hooks.clock.now() if hooks.clock is not None else datetime.now(UTC)
    return now if now.tzinfo else now.replace(tzinfo=UTC)


def _create_job(self: S3ControlResponse) -> ActionResult:
    token = self._get_param("ClientRequestToken")
    for job in JOBS.values():
        if job["ClientRequestToken"] == token:  # the token makes CreateJob idempotent
            return ActionResult({"JobId": job["JobId"]})
    job_id = str(uuid.uuid4())
    confirmation = str(self._get_param("ConfirmationRequired")).lower() == "true"
    JOBS[job_id] = {
        "JobId": job_id,
        "ClientRequestToken": token,
        "ConfirmationRequired": confirmation,
        "Description": self._get_param("Description"),
        "Operation": self._get_param("Operation"),
        "Manifest": self._get_param("Manifest"),
        "Report": self._get_param("Report"),
        "Priority": self._get_param("Priority"),
        "RoleArn": self._get_param("RoleArn"),
        "Status": "Suspended" if confirmation else "Ready",
        "CreationTime": _now(),
        "AccountId": self.current_account,
    }
    if not confirmation:
        run_job(JOBS[job_id])
    return ActionResult({"JobId": job_id})


def _describe_job(self: S3ControlResponse) -> ActionResult:
    job = JOBS[self._get_param("JobId") or self.path.rstrip("/").rsplit("/", 1)[-1]]
    return ActionResult({"Job": {k: v for k, v in job.items() if k not in ("ClientRequestToken", "AccountId")}})


def _update_job_status(self: S3ControlResponse) -> ActionResult:
    job_id = self.path.rstrip("/").rsplit("/", 2)[-2]
    job = JOBS[job_id]
    requested = self._get_param("RequestedJobStatus") or self.querystring.get("requestedJobStatus", [""])[0]
    if requested == "Ready" and job["Status"] == "Suspended":
        job["Status"] = "Ready"
        run_job(job)
    elif requested == "Cancelled" and job["Status"] in ("Suspended", "Ready"):
        job["Status"] = "Cancelled"
    return ActionResult({"JobId": job_id, "Status": job["Status"]})


def _tag_set(operation: dict[str, Any]) -> dict[str, str]:
    tagging = operation.get("S3PutObjectTagging") or {}
    tags = tagging.get("TagSet") or []
    if isinstance(tags, dict):  # the XML parser gives {"S3Tag": [...]} or {"S3Tag": {...}}
        tags = tags.get("S3Tag", [])
        tags = [tags] if isinstance(tags, dict) else tags
    return {tag["Key"]: tag["Value"] for tag in tags}


def run_job(job: dict[str, Any]) -> None:
    """Carry out an S3PutObjectTagging job over its CSV manifest and write its report."""
    from moto.s3.models import s3_backends

    backend = s3_backends[job["AccountId"]]["aws"]
    location = job["Manifest"]["Location"]["ObjectArn"].split(":::", 1)[1]
    manifest_bucket, _, manifest_key = location.partition("/")
    body = backend.get_object(manifest_bucket, manifest_key)
    rows = list(csv.reader(io.StringIO(body.value.decode() if body is not None else "")))
    tags = _tag_set(job["Operation"] or {})
    job["Status"] = "Active"
    results: list[list[str]] = []
    succeeded = failed = 0
    stop_after = FAIL_AFTER.get(rows[0][0]) if rows else None
    for index, row in enumerate(rows):
        bucket, key = row[0], unquote(row[1])
        if (stop_after is not None and index >= stop_after) or key in FAIL_KEYS:
            failed += 1
            results.append([bucket, row[1], "", "failed", "InternalError", "500", "We encountered an internal error."])
            continue
        target = backend.get_object(bucket, key)
        if target is None:
            failed += 1
            results.append([bucket, row[1], "", "failed", "NoSuchKey", "404", "The specified key does not exist."])
            continue
        backend.put_object_tagging(target, dict(tags))  # the whole tag set is replaced, as in S3
        succeeded += 1
        results.append([bucket, row[1], "", "succeeded", "", "200", "Successful"])
    job["ProgressSummary"] = {"TotalNumberOfTasks": len(rows), "NumberOfTasksSucceeded": succeeded,
                              "NumberOfTasksFailed": failed}
    job["Status"] = "Failed" if stop_after is not None and failed else "Complete"
    if job["Status"] == "Failed":
        job["FailureReasons"] = [{"FailureCode": "InternalError", "FailureReason": f"job failed after {stop_after} tasks"}]
    job["TerminationDate"] = _now()
    _write_report(backend, job, results)


def _write_report(backend: Any, job: dict[str, Any], results: list[list[str]]) -> None:
    report = job.get("Report") or {}
    if str(report.get("Enabled", "")).lower() != "true":
        return
    if report.get("ReportScope") == "FailedTasksOnly":
        results = [row for row in results if row[3] == "failed"]
    bucket = str(report["Bucket"]).split(":::", 1)[1]
    prefix = f"{report.get('Prefix', '').rstrip('/')}/job-{job['JobId']}".lstrip("/")
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(results)
    key = f"{prefix}/results/0.csv"
    backend.put_object(bucket, key, buffer.getvalue().encode())
    manifest = {"Format": "Report_CSV_20180820", "ReportCreationDate": _now().isoformat(),
                "Results": [{"TaskExecutionStatus": "failed" if report.get("ReportScope") == "FailedTasksOnly"
                             else "all", "Bucket": bucket, "Key": key}, ],
                "ReportSchema": "Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage"}
    backend.put_object(bucket, f"{prefix}/manifest.json", json.dumps(manifest).encode())
    job["ReportKey"] = key


def apply() -> None:
    reset()
    S3ControlResponse.create_job = _create_job  # type: ignore[attr-defined]
    S3ControlResponse.describe_job = _describe_job  # type: ignore[attr-defined]
    S3ControlResponse.update_job_status = _update_job_status  # type: ignore[attr-defined]
    urls.url_paths.setdefault(r"{0}/v20180820/jobs$", S3ControlResponse.dispatch)
    urls.url_paths.setdefault(r"{0}/v20180820/jobs/(?P<id>[^/]+)$", S3ControlResponse.dispatch)
    urls.url_paths.setdefault(r"{0}/v20180820/jobs/(?P<id>[^/]+)/status$", S3ControlResponse.dispatch)
    urls.url_paths.setdefault("/v20180820/jobs", S3ControlResponse.dispatch)
    urls.url_paths.setdefault("/v20180820/jobs/<id>", S3ControlResponse.dispatch)
    urls.url_paths.setdefault("/v20180820/jobs/<id>/status", S3ControlResponse.dispatch)
    _ = S3ControlBackend  # the backend keeps no job state: JOBS above is the store
