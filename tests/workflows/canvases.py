"""Small builders for canvases used by the workflow module tests."""

import base64
import copy
import json
from pathlib import Path

FIXTURES = Path(__file__).parent / "fixtures"
WORKFLOW_ID = "5f0c7a52-3f4e-4b7e-9d60-1b2c3d4e5f60"
NAMESPACE = "shop"


def node(node_id: str, node_type: str, **data) -> dict:
    """Return a canvas node; data defaults to a name equal to the id."""
    data.setdefault("name", node_id)
    return {
        "id": node_id,
        "type": node_type,
        "position": {"x": 0, "y": 0},
        "data": data,
    }


def edge(source: str, target: str, source_handle: str | None = None, **data) -> dict:
    """Return a canvas edge, with edge data when given."""
    built = {
        "id": f"{source}-to-{target}-{source_handle or 'out'}",
        "source": source,
        "target": target,
        "sourceHandle": source_handle,
        "targetHandle": None,
    }
    if data:
        built["data"] = data
    return built


def web(**data) -> dict:
    """Return a typical Deployment node named web."""
    defaults = {
        "image": "nginx:1.27",
        "replicas": 2,
        "containerPorts": [{"name": "http", "containerPort": 8080}],
        "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}},
    }
    return node("web", "deployment", **{**defaults, **data})


def three_tier() -> dict:
    """Return the three-tier fixture canvas."""
    return copy.deepcopy(json.loads((FIXTURES / "three_tier.json").read_text()))


def node_by_id(nodes: list[dict], node_id: str) -> dict:
    return next(item for item in nodes if item["id"] == node_id)


def seal_for_tests(value: str) -> str:
    """Seal reversibly (base64 with the real prefix); for tests only."""
    return "enc:" + base64.b64encode(value.encode()).decode()


def reveal_for_tests(token: str) -> str:
    """Reverse seal_for_tests."""
    assert token.startswith("enc:"), token
    return base64.b64decode(token[4:]).decode()
