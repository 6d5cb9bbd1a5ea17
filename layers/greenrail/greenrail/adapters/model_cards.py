"""SageMaker Model Cards: describe, read tags, create a Draft, write new content (a new version);
and the model data of the SageMaker models and model packages a card may name.

An adapter only: it decides nothing. The limits below are the service's, from the SageMaker API
reference and the model card JSON schema (FACTS.md, "Model Cards").
"""

from __future__ import annotations

import re
from typing import Any

from pydantic import BaseModel, ConfigDict

from greenrail.aws import NOT_FOUND_CODES, client, error_code
from greenrail.permissions import calls

CONTENT_MAX_CHARS = 100_000  # CreateModelCard / UpdateModelCard Content
CUSTOM_DETAIL_MAX_CHARS = 1024  # additional_information.custom_details values
NAME_MAX_CHARS = 63  # ModelCardName; also evaluation_details[].name and metric group names
NAME_PATTERN = re.compile(r"^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$")
# The one status Greenrail writes to: PendingReview, Approved and Archived are a reviewer's.
WRITABLE_STATUS = "Draft"



class ModelCard(BaseModel):
    model_config = ConfigDict(extra="ignore", defer_build=True)

    name: str
    arn: str
    version: int
    status: str
    content: str


def card_name(text: str) -> str:
    """A valid ModelCardName from ``text``: other characters become hyphens, at most 63 characters."""
    name = re.sub(r"[^a-zA-Z0-9-]+", "-", text).strip("-")[:NAME_MAX_CHARS].rstrip("-")
    return name or "greenrail"


@calls("sagemaker:DescribeModelCard")
def describe(name: str, region_name: str | None = None) -> ModelCard | None:
    """The latest version of card ``name``, or None when there is no such card."""
    try:
        response = client("sagemaker", region_name).describe_model_card(ModelCardName=name)
    except Exception as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return None
        raise
    return ModelCard(
        name=response["ModelCardName"],
        arn=response["ModelCardArn"],
        version=int(response.get("ModelCardVersion") or 1),
        status=response.get("ModelCardStatus") or "Draft",
        content=response.get("Content") or "{}",
    )


@calls("sagemaker:ListTags")
def card_tags(arn: str, region_name: str | None = None) -> dict[str, str]:
    """The tags of the model card ``arn`` (``create_draft`` marks Greenrail's own drafts)."""
    from greenrail.adapters.sagemaker import list_tags

    return list_tags(arn, region_name)


def _data_urls(containers: list[dict[str, Any] | None]) -> list[str]:
    return [str(c["ModelDataUrl"]) for c in containers if isinstance(c, dict) and c.get("ModelDataUrl")]


@calls("sagemaker:DescribeModel")
def model_data_urls(name: str, region_name: str | None = None) -> list[str]:
    """The ModelDataUrl of SageMaker model ``name``'s containers (PrimaryContainer, Containers);
    empty when there is no such model."""
    try:
        model = client("sagemaker", region_name).describe_model(ModelName=name)
    except Exception as exc:
        if error_code(exc) in NOT_FOUND_CODES:  # DescribeModel: ValidationException "Could not find model"
            return []
        raise
    return _data_urls([model.get("PrimaryContainer"), *(model.get("Containers") or [])])


@calls("sagemaker:DescribeModelPackage")
def model_package_data_urls(name_or_arn: str, region_name: str | None = None) -> list[str]:
    """The ModelDataUrl of model package ``name_or_arn``'s InferenceSpecification containers;
    empty when there is no such package."""
    try:
        package = client("sagemaker", region_name).describe_model_package(ModelPackageName=name_or_arn)
    except Exception as exc:
        if error_code(exc) in NOT_FOUND_CODES:
            return []
        raise
    return _data_urls(list((package.get("InferenceSpecification") or {}).get("Containers") or []))


@calls("sagemaker:CreateModelCard", "sagemaker:AddTags")  # AddTags: CreateModelCard with Tags
def create_draft(
    name: str, content: str, tags: dict[str, str] | None = None, region_name: str | None = None
) -> str:
    """Create card ``name`` in Draft status with ``content`` (a JSON string); returns its ARN."""
    kwargs: dict[str, Any] = {"ModelCardName": name, "Content": content, "ModelCardStatus": "Draft"}
    if tags:
        kwargs["Tags"] = [{"Key": key, "Value": value} for key, value in tags.items()]
    return str(client("sagemaker", region_name).create_model_card(**kwargs)["ModelCardArn"])


@calls("sagemaker:UpdateModelCard")
def update_content(name: str, content: str, region_name: str | None = None) -> str:
    """Write new content to card ``name`` (SageMaker makes it a new version); status is left alone.

    UpdateModelCard cannot change content and status in one call, so this call never sends a status.
    """
    response = client("sagemaker", region_name).update_model_card(ModelCardName=name, Content=content)
    return str(response["ModelCardArn"])
