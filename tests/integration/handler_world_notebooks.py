"""The notebooks policy's part of the handler world (``tests/integration/handler_world.py``).

The Studio domain, space and app and the notebook instance the sample events name
(``events/cloudtrail-sagemaker-*.json``, ``events/sagemaker-notebook-instance-inservice.json``),
each out of policy so that a valid input changes something: the domain has no idle shutdown
(UpdateDomain), the space starts JupyterLab on a GPU (UpdateSpace), the app has been idle for five
hours (DeleteApp), and the instance is InService outside its working hours (StopNotebookInstance).
``snapshot`` is what a malformed input must leave alone; ``reset`` puts it back.
"""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import ROOT

HANDLERS = ("notebooks_sweep", "notebooks_event")
POLICY = "notebooks:\n  mode: enforce\n"
REGION, ACCOUNT = "us-east-1", "123456789012"


def _sample(name: str) -> dict[str, Any]:
    return dict(json.loads((ROOT / "events" / name).read_text()))


INSERVICE_EVENT = _sample("sagemaker-notebook-instance-inservice.json")
CREATE_APP_EVENT = _sample("cloudtrail-sagemaker-create-app.json")
UPDATE_DOMAIN_EVENT = _sample("cloudtrail-sagemaker-update-domain.json")
DOMAIN = CREATE_APP_EVENT["detail"]["requestParameters"]["domainId"]
SPACE = CREATE_APP_EVENT["detail"]["requestParameters"]["spaceName"]
NOTEBOOK = INSERVICE_EVENT["detail"]["NotebookInstanceName"]
DOMAIN_SETTINGS = {"JupyterLabAppSettings": {"DefaultResourceSpec": {"InstanceType": "ml.t3.medium"}}}
GPU = "ml.g5.xlarge"


def night_tag(now: datetime | None = None) -> str:
    """A ``greenrail:working-hours`` value whose hours start two hours from now (every day)."""
    start = (now or datetime.now(UTC)) + timedelta(hours=2)
    return f"{start:%H}:00-{start + timedelta(hours=2):%H}:00 UTC mon-sun"


class Estate:
    def __init__(self) -> None:
        from greenrail_cli.demo.notebooks import create_app, create_domain, create_notebook, create_space
        from greenrail_cli.emulator.moto_ext import sagemaker_studio

        sagemaker_studio.apply()
        domain = create_domain(DOMAIN.removeprefix("d-"), copy.deepcopy(DOMAIN_SETTINGS))
        assert domain == DOMAIN, domain
        create_space(domain, "ana", SPACE, GPU)
        self.app = create_app(domain, SPACE, GPU, idle_for=timedelta(hours=5))
        create_notebook(NOTEBOOK, "ml.p3.2xlarge", tags={"greenrail:working-hours": night_tag()})
        backend = self._backend()
        self.settings = copy.deepcopy((backend.domains[DOMAIN].default_user_settings,
                                       backend.__dict__["greenrail_studio"].spaces[(DOMAIN, SPACE)].settings))

    @staticmethod
    def _backend() -> Any:
        from moto.sagemaker.models import sagemaker_backends

        return sagemaker_backends[ACCOUNT][REGION]

    def snapshot(self) -> dict[str, Any]:
        """The domain's and the space's settings, the app and the instance (from moto's backend: fast)."""
        from greenrail_cli.emulator.moto_ext import sagemaker_studio

        backend = self._backend()
        space = backend.__dict__["greenrail_studio"].spaces[(DOMAIN, SPACE)]
        return {
            "domain": json.dumps(backend.domains[DOMAIN].default_user_settings, sort_keys=True),
            "space": json.dumps(space.settings, sort_keys=True),
            "app": sagemaker_studio.delete_app_calls(self.app),
            "notebook": (sagemaker_studio.notebook_stop_calls(NOTEBOOK),
                         backend.notebook_instances[NOTEBOOK].status),
        }

    def reset(self) -> None:
        """No idle shutdown, a GPU default, an app idle for five hours, the instance InService."""
        from greenrail_cli.emulator.moto_ext import sagemaker_studio

        backend = self._backend()
        domain_settings, space_settings = copy.deepcopy(self.settings)
        backend.domains[DOMAIN].default_user_settings = domain_settings
        sagemaker_studio.release_domain(DOMAIN)
        backend.__dict__["greenrail_studio"].spaces[(DOMAIN, SPACE)].settings = space_settings
        sagemaker_studio.set_app_activity(self.app, last_user_activity=timedelta(hours=5), status="InService")
        sagemaker_studio.set_notebook_instance_status(NOTEBOOK, "InService")

    @staticmethod
    def inputs() -> dict[str, list[Any]]:
        return {"notebooks_sweep": [{"sweep": True}, {}],
                "notebooks_event": [INSERVICE_EVENT, CREATE_APP_EVENT, UPDATE_DOMAIN_EVENT]}
