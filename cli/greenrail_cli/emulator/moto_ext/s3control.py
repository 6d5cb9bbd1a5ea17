"""S3 Batch Operations: ``CreateJob`` and ``DescribeJob`` (absent from moto 5.2.5).

Jobs are stored, not run: Greenrail creates them with ``ConfirmationRequired`` so that they
wait in ``Suspended`` for a person to confirm, which is the state the emulator reports.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from moto.core.responses import ActionResult
from moto.s3control import urls
from moto.s3control.models import S3ControlBackend
from moto.s3control.responses import S3ControlResponse

JOBS: dict[str, dict[str, Any]] = {}


def _create_job(self: S3ControlResponse) -> ActionResult:
    token = self._get_param("ClientRequestToken")
    for job in JOBS.values():
        if job["ClientRequestToken"] == token:  # the token makes CreateJob idempotent
            return ActionResult({"JobId": job["JobId"]})
    job_id = str(uuid.uuid4())
    confirmation = bool(self._get_param("ConfirmationRequired"))
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
        "CreationTime": datetime.now(UTC),
    }
    return ActionResult({"JobId": job_id})


def _describe_job(self: S3ControlResponse) -> ActionResult:
    job = JOBS[self._get_param("JobId")]
    return ActionResult({"Job": {k: v for k, v in job.items() if k != "ClientRequestToken"}})


def apply() -> None:
    JOBS.clear()
    S3ControlResponse.create_job = _create_job  # type: ignore[attr-defined]
    S3ControlResponse.describe_job = _describe_job  # type: ignore[attr-defined]
    urls.url_paths.setdefault(r"{0}/v20180820/jobs$", S3ControlResponse.dispatch)
    urls.url_paths.setdefault(r"{0}/v20180820/jobs/(?P<id>[^/]+)$", S3ControlResponse.dispatch)
    urls.url_paths.setdefault("/v20180820/jobs", S3ControlResponse.dispatch)
    urls.url_paths.setdefault("/v20180820/jobs/<id>", S3ControlResponse.dispatch)
    _ = S3ControlBackend  # the backend keeps no job state: JOBS above is the store
