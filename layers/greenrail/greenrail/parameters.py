"""Reading the policy document's SSM parameter (its own module: the registry names it among the
notifier's calls without importing the document, which imports the registry)."""

from __future__ import annotations

from typing import Any

from greenrail.permissions import calls

_SSM_PROVIDERS: dict[int, Any] = {}


@calls("ssm:GetParameter", central=True)
def read_parameter(parameter: str, max_age: int) -> str:
    """The parameter's value, through a Powertools SSMProvider kept for the container's life
    (that is where Powertools caches); ``max_age`` 0 fetches every time."""
    from aws_lambda_powertools.utilities import parameters

    from greenrail.aws import client

    ssm = client("ssm")
    provider = _SSM_PROVIDERS.get(id(ssm))
    if provider is None:
        provider = _SSM_PROVIDERS[id(ssm)] = parameters.SSMProvider(boto3_client=ssm)
    return str(provider.get(parameter, max_age=max_age, force_fetch=max_age == 0))
