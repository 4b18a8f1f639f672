"""Model factories for tests: real rows, made the way the app makes them."""

import copy
import json
from pathlib import Path

from clusters.models import Cluster
from workflows import actions as workflow_actions
from workflows.models import Workflow

FIXTURES = Path(__file__).parent / "workflows" / "fixtures"


def three_tier_canvas() -> dict:
    """The three-tier application: web, its config, secret, service, ingress,
    autoscaler, and a PostgreSQL StatefulSet with its services."""
    return copy.deepcopy(json.loads((FIXTURES / "three_tier.json").read_text()))


def make_cluster(owner, kubeconfig_text: str, name: str = "sim") -> Cluster:
    cluster = Cluster(
        name=name,
        owner=owner,
        auth_method=Cluster.AuthMethod.KUBECONFIG,
        is_simulated=True,
    )
    cluster.set_credentials({"kubeconfig": kubeconfig_text})
    cluster.save()
    return cluster


def make_workflow(
    owner,
    cluster,
    *,
    canvas: dict | None = None,
    state="draft",
    name="shop",
    namespace="default",
) -> Workflow:
    workflow = workflow_actions.create_workflow(
        owner, name=name, cluster=cluster, namespace=namespace
    )
    if canvas is not None:
        workflow_actions.save_canvas(
            workflow.pk,
            nodes=canvas["nodes"],
            edges=canvas["edges"],
            base_revision=None,
        )
    if state != "draft":
        workflow_actions.move_workflow(workflow.pk, state)
    workflow.refresh_from_db()
    return workflow
