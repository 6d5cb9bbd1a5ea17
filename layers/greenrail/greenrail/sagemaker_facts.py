"""What SageMaker itself defines, written once: job statuses and CloudWatch namespaces.

Source: SageMaker API reference (DescribeTrainingJob ``TrainingJobStatus``) and FACTS.md,
"Metrics": training jobs publish per-host metrics (dimension ``Host`` = ``<job>/algo-<n>``)
under ``/aws/sagemaker/TrainingJobs``.
"""

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
