"""In realistic mode a crash-looping container is Ready for a moment before
it first exits; the engine waits for health to hold before it says healthy."""

import uuid

import pytest
from kubernetes import config

from kubesim.sim import KubeSim
from runs.engine import DeployOptions, RunStatus, deploy
from workflows.ordering import apply_levels, dependencies
from workflows.render import render_canvas

pytestmark = pytest.mark.slow


class Silent:
    def node_state(self, node_id, state, message="", health=None):
        pass

    def log(self, level, message):
        pass

    def should_stop(self):
        return False


def one_deployment(image: str) -> tuple[list, list]:
    return [
        {
            "id": "web",
            "type": "deployment",
            "position": {"x": 0, "y": 0},
            "data": {"name": "web", "image": image, "replicas": 1},
        }
    ], []


@pytest.fixture
def realistic_sim(tmp_path):
    sim = KubeSim(mode="realistic", port=0).start()
    path = tmp_path / "kubeconfig"
    sim.write_kubeconfig(path)
    api_client = config.new_client_from_config(config_file=str(path))
    yield api_client
    api_client.close()
    sim.stop()


def run(api_client, image: str, settle_for: float):
    nodes, edges = one_deployment(image)
    workflow_id = str(uuid.uuid4())
    rendered = render_canvas(
        nodes,
        edges,
        workflow_id=workflow_id,
        namespace="default",
        reveal=lambda token: token,
    )
    return deploy(
        api_client,
        workflow_id=workflow_id,
        rendered=rendered,
        levels=apply_levels(nodes, edges),
        depends_on=dependencies(nodes, edges),
        observer=Silent(),
        options=DeployOptions(
            health_deadline=30, poll_interval=0.1, settle_for=settle_for
        ),
    )


def test_a_crash_loop_is_not_called_healthy_in_the_moment_it_is_ready(realistic_sim):
    result = run(realistic_sim, "kubesim/crashloop", settle_for=4)

    assert result.status == RunStatus.FAILED
    assert "crash" in result.message


def test_a_healthy_workload_completes_after_the_settle_time(realistic_sim):
    result = run(realistic_sim, "nginx:1.27", settle_for=1)

    assert result.status == RunStatus.COMPLETED
