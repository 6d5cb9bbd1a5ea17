"""Greenrail's environment variables, in one typed model (set by template.yaml, or by the emulator).

Read afresh on each call (a dict lookup per variable): the emulator and the tests change the
environment between invocations, and Lambda never does.
"""

from __future__ import annotations

import os

from pydantic import BaseModel, ConfigDict, Field


class Settings(BaseModel):
    model_config = ConfigDict(frozen=True)

    region: str = "us-east-1"  # AWS_REGION (Lambda), else AWS_DEFAULT_REGION
    partition: str = "aws"  # AWS_PARTITION
    bus_name: str = "greenrail"  # GREENRAIL_BUS_NAME: the decision bus
    state_table: str | None = None  # GREENRAIL_STATE_TABLE: idempotency records, blast radius, stop records
    policy_parameter: str | None = None  # GREENRAIL_POLICY_PARAMETER: the SSM parameter of the policy document
    policy_file: str | None = None  # GREENRAIL_POLICY_FILE: a local policy document
    policy_cache_seconds: int = Field(default=300, ge=0)  # GREENRAIL_POLICY_CACHE_SECONDS
    member_role_name: str | None = None  # GREENRAIL_MEMBER_ROLE_NAME: set in Organization deployments
    account_id: str | None = None  # GREENRAIL_ACCOUNT_ID: skips the STS call (emulator, tests)
    aws_max_attempts: int = Field(default=5, ge=1)  # GREENRAIL_AWS_MAX_ATTEMPTS (botocore standard retries)
    aws_max_pool: int = Field(default=20, ge=1)  # GREENRAIL_AWS_MAX_POOL
    # GREENRAIL_AWS_CONNECT_TIMEOUT / GREENRAIL_AWS_READ_TIMEOUT, in seconds: botocore's 60 when unset
    # (Lambda); the CLI sets short ones for itself (greenrail_cli.main)
    aws_connect_timeout: float | None = Field(default=None, gt=0)
    aws_read_timeout: float | None = Field(default=None, gt=0)
    topic_arn: str | None = None  # GREENRAIL_TOPIC_ARN: the notifier's SNS topic
    slack_secret_arn: str | None = None  # GREENRAIL_SLACK_SECRET_ARN
    slack_secret_cache_seconds: int = Field(default=300, ge=0)  # GREENRAIL_SLACK_SECRET_CACHE_SECONDS
    # GREENRAIL_SLACK_ALLOWED_HOSTS: host[:port] entries allowed besides hooks.slack.com (local fakes)
    slack_allowed_hosts: str | None = None
    training_watch_arn: str | None = None  # GREENRAIL_TRAINING_WATCH_ARN: the watch state machine
    storage_inventory_arn: str | None = None  # GREENRAIL_STORAGE_INVENTORY_ARN: the inventory sweep state machine
    storage_tag_merge_arn: str | None = None  # GREENRAIL_STORAGE_TAG_MERGE_ARN: the merge jobs' LambdaInvoke function
    member_batch_role_name: str | None = None  # GREENRAIL_MEMBER_BATCH_ROLE_NAME: member accounts' Batch Operations role
    endpoint_rightsizing_arn: str | None = None  # GREENRAIL_ENDPOINT_RIGHTSIZING_ARN: the rightsizing state machine
    # the retraining policy's EventBridge Scheduler group, the role its schedules run as, their DLQ
    retraining_schedule_group: str | None = None  # GREENRAIL_RETRAINING_SCHEDULE_GROUP
    retraining_scheduler_role_arn: str | None = None  # GREENRAIL_RETRAINING_SCHEDULER_ROLE_ARN
    retraining_pipeline_pattern: str | None = None  # GREENRAIL_RETRAINING_PIPELINE_PATTERN: what that role may start
    dead_letter_queue_arn: str | None = None  # GREENRAIL_DEAD_LETTER_QUEUE_ARN
    digest_table: str | None = None  # GREENRAIL_DIGEST_TABLE: decisions waiting for their digest


_NAMES = {
    "partition": "AWS_PARTITION",
    "bus_name": "GREENRAIL_BUS_NAME",
    "state_table": "GREENRAIL_STATE_TABLE",
    "policy_parameter": "GREENRAIL_POLICY_PARAMETER",
    "policy_file": "GREENRAIL_POLICY_FILE",
    "policy_cache_seconds": "GREENRAIL_POLICY_CACHE_SECONDS",
    "member_role_name": "GREENRAIL_MEMBER_ROLE_NAME",
    "account_id": "GREENRAIL_ACCOUNT_ID",
    "aws_max_attempts": "GREENRAIL_AWS_MAX_ATTEMPTS",
    "aws_max_pool": "GREENRAIL_AWS_MAX_POOL",
    "aws_connect_timeout": "GREENRAIL_AWS_CONNECT_TIMEOUT",
    "aws_read_timeout": "GREENRAIL_AWS_READ_TIMEOUT",
    "topic_arn": "GREENRAIL_TOPIC_ARN",
    "slack_secret_arn": "GREENRAIL_SLACK_SECRET_ARN",
    "slack_secret_cache_seconds": "GREENRAIL_SLACK_SECRET_CACHE_SECONDS",
    "slack_allowed_hosts": "GREENRAIL_SLACK_ALLOWED_HOSTS",
    "training_watch_arn": "GREENRAIL_TRAINING_WATCH_ARN",
    "storage_inventory_arn": "GREENRAIL_STORAGE_INVENTORY_ARN",
    "storage_tag_merge_arn": "GREENRAIL_STORAGE_TAG_MERGE_ARN",
    "member_batch_role_name": "GREENRAIL_MEMBER_BATCH_ROLE_NAME",
    "endpoint_rightsizing_arn": "GREENRAIL_ENDPOINT_RIGHTSIZING_ARN",
    "retraining_schedule_group": "GREENRAIL_RETRAINING_SCHEDULE_GROUP",
    "retraining_scheduler_role_arn": "GREENRAIL_RETRAINING_SCHEDULER_ROLE_ARN",
    "retraining_pipeline_pattern": "GREENRAIL_RETRAINING_PIPELINE_PATTERN",
    "dead_letter_queue_arn": "GREENRAIL_DEAD_LETTER_QUEUE_ARN",
    "digest_table": "GREENRAIL_DIGEST_TABLE",
}


def settings() -> Settings:
    """The settings now; an empty variable counts as unset."""
    env = os.environ
    values = {field: env[name] for field, name in _NAMES.items() if env.get(name)}
    values["region"] = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or "us-east-1"
    return Settings.model_validate(values)
