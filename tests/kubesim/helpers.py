"""Bodies and waits shared by the kubesim protocol tests."""

from __future__ import annotations

import time


def eventually(check, timeout: float = 30.0):
    """Return check()'s first truthy result.

    Against kubesim (instant mode) the first call already succeeds; only a
    real cluster, whose controllers run asynchronously, ever waits here.
    """
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def deployment_body(name: str, image: str = "nginx:1.27", labels: dict | None = None):
    """A minimal valid Deployment as a plain dict."""
    labels = labels or {"app": name}
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name, "labels": dict(labels)},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": dict(labels)},
            "template": {
                "metadata": {"labels": dict(labels)},
                "spec": {"containers": [{"name": "web", "image": image}]},
            },
        },
    }


def configmap_body(name: str, data: dict | None = None, labels: dict | None = None):
    """A ConfigMap as a plain dict."""
    body = {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {"name": name},
        "data": data if data is not None else {"key": "value"},
    }
    if labels:
        body["metadata"]["labels"] = labels
    return body
