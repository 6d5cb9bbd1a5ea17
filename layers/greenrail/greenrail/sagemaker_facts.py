"""What SageMaker itself defines, written once: job statuses, CloudWatch namespaces, and which
instance types carry accelerators.

Source: SageMaker API reference (DescribeTrainingJob ``TrainingJobStatus``) and FACTS.md,
"Metrics": training jobs publish per-host metrics (dimension ``Host`` = ``<job>/algo-<n>``)
under ``/aws/sagemaker/TrainingJobs``.
"""

import json
from functools import lru_cache
from importlib import resources
from typing import Any

TRAINING_NAMESPACE = "/aws/sagemaker/TrainingJobs"
PROCESSING_NAMESPACE = "/aws/sagemaker/ProcessingJobs"
ENDPOINT_NAMESPACE = "AWS/SageMaker"
TERMINAL_STATUSES = frozenset({"Completed", "Failed", "Stopped"})
STOPPED_STATUSES = frozenset({"Stopping", "Stopped"})
DEFAULT_MAX_RUNTIME_SECONDS = 86_400  # CreateTrainingJob's MaxRuntimeInSeconds default (1 day)


def host_dimension(job_name: str, instance: int) -> str:
    """The ``Host`` dimension of one instance of a job (instances count from 1)."""
    return f"{job_name}/algo-{instance}"


class UnknownInstanceType(ValueError, KeyError):
    """An instance type missing from the catalogue or the price table (both raise this one)."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


# ---------------------------------------------------------------- accelerated instance types
# Families with GPUs, Trainium or Inferentia that SageMaker offers but the carbon model's catalog
# (data/instances.json) does not list yet (EC2 instance type pages: G6 L4, G6e L40S, G7/G7e
# RTX PRO 6000 Blackwell, P4de A100 80 GB, P5en H200, P6 B200, Trn1n/Trn2 Trainium, Inf1
# Inferentia). A family, never a name prefix: ``ml.geospatial.interactive`` starts with "g" and
# has no accelerator.
ACCELERATED_FAMILIES_BEYOND_CATALOG = frozenset(
    {"g6", "g6e", "g7", "g7e", "p4de", "p5en", "p6-b200", "trn1n", "trn2", "inf1"})


def instance_family(instance_type: str) -> str:
    """``ml.g5.xlarge`` -> ``g5``; ``ml.geospatial.interactive`` -> ``geospatial``."""
    name = instance_type.strip().lower()
    name = name[3:] if name.startswith("ml.") else name
    return name.split(".", 1)[0]


@lru_cache(maxsize=1)
def _catalog_instances() -> dict[str, Any]:
    text = resources.files("greenrail").joinpath("data/instances.json").read_text()
    instances: dict[str, Any] = json.loads(text)["instances"]
    return instances


def is_accelerated(instance_type: str) -> bool:
    """Whether ``instance_type`` has GPUs, Trainium or Inferentia: the instance catalog's
    accelerator count, else the families above; ``system`` and unknown types are not."""
    name = instance_type.strip().lower()
    entry = _catalog_instances().get(name if name.startswith("ml.") else f"ml.{name}")
    if entry is not None:
        return bool(entry.get("gpu_count"))
    return instance_family(name) in ACCELERATED_FAMILIES_BEYOND_CATALOG
