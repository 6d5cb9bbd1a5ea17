"""SageMaker training prices: USD per instance-hour, from ``data/sagemaker_training_prices.json``.

The data file names its source (the AWS SageMaker pricing page) and date, and says which
figures were cross-checked. It holds one region (us-east-1); other regions use it unless the
policy overrides the type (``training.price_overrides_usd_per_hour``), which makes cost checks
there a lower bound. Spot training is billed on ``BillableTimeInSeconds`` at on-demand rates
(that is where the spot discount shows), so one table serves both.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from functools import lru_cache
from importlib import resources
from typing import Any

from pydantic import BaseModel, ConfigDict

from greenrail.sagemaker_facts import UnknownInstanceType

__all__ = ["InstancePrice", "UnknownInstanceType", "price_table", "training_price"]

PRICES_FILE = "sagemaker_training_prices.json"


class InstancePrice(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    instance_type: str
    usd_per_hour: float
    source: str
    vcpus: int | None = None
    gpus: int | None = None




@lru_cache(maxsize=1)
def price_table() -> dict[str, Any]:
    text = resources.files("greenrail").joinpath("data", PRICES_FILE).read_text()
    data: dict[str, Any] = json.loads(text)
    return data


def training_price(instance_type: str, overrides: Mapping[str, float] | None = None) -> InstancePrice:
    """The on-demand training price of one instance of ``instance_type``."""
    table = price_table()
    row = table["prices"].get(instance_type)
    spec = {"vcpus": row["vcpus"], "gpus": row["gpus"]} if row else {}
    if overrides and instance_type in overrides:
        return InstancePrice(
            instance_type=instance_type,
            usd_per_hour=float(overrides[instance_type]),
            source="policy training.price_overrides_usd_per_hour",
            **spec,
        )
    if row is None:
        raise UnknownInstanceType(instance_type)
    return InstancePrice(
        instance_type=instance_type,
        usd_per_hour=float(row["usd_per_hour"]),
        source=f"{table['source']} ({table['as_of']})",
        **spec,
    )
