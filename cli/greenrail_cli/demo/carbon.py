"""The carbon policy's demo scenario: a pre-flight estimate with greener regions.

The training scenario's finished jobs get their carbon records on Model Cards; this scenario shows
what happens when a job *starts*: ``vision-pretrain-eu`` (2 x ml.p4d.24xlarge, MaxRuntimeInSeconds
72 h) enters InProgress in us-east-1, its ``SageMaker Training Job State Change`` event goes
through the template's rules, and the carbon function publishes an ``estimate-carbon`` decision:
the job's upper bound in kWh and kgCO2e, and the same job in the lowest-carbon regions that offer
its instance type. (The job is marked finished first, so the training watch has nothing to judge
and its carbon record is written too.)
"""

from __future__ import annotations

from typing import Any

from greenrail_cli.demo.training import DemoJob, create_job

PREFLIGHT_JOB = DemoJob("vision-pretrain-preflight", "healthy", "ml.p4d.24xlarge", 8, 90.0, 0.0,
                        {"team": "vision"}, max_runtime_seconds=72 * 3600)


def scenario(emulator: Any, log: list[str]) -> dict[str, Any]:
    from greenrail_cli.emulator import ACCOUNT, REGION
    from greenrail_cli.emulator.moto_ext import sagemaker_training

    create_job(PREFLIGHT_JOB)
    event = sagemaker_training.training_job_state_change_event(PREFLIGHT_JOB.name, ACCOUNT, REGION)
    sagemaker_training.set_training_job_status(PREFLIGHT_JOB.name, "Completed")  # nothing left to watch
    emulator.deliver(event)
    [estimate] = [d for d in emulator.decisions
                  if d.action == "estimate-carbon" and d.resource.endswith("/" + PREFLIGHT_JOB.name)]
    figures = estimate.figures
    bound = figures["upper_bound"]
    greener = ", ".join(f"{r['region']} {r['kgco2e']:.1f} kgCO2e" + (" (estimated)" if r["estimated"] else "")
                        for r in figures["greener_regions"])
    log.append(f"pre-flight: {PREFLIGHT_JOB.name} ({PREFLIGHT_JOB.instance_type} x 1, up to "
               f"{figures['max_runtime_hours']:g} h) at most {bound['kwh']:.0f} kWh, {bound['kgco2e']:.1f} kgCO2e "
               f"in {estimate.region}; greener regions offering it: {greener}")
    return {"preflight": {"job": PREFLIGHT_JOB.name, "upper_bound": bound, "greener_regions": figures["greener_regions"]}}
