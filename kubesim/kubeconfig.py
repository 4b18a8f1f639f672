"""Kubeconfig documents pointing at a kubesim server."""

from __future__ import annotations

import os

import yaml

NAME = "kubesim"


def build_kubeconfig(
    server_url: str, token: str | None = None, name: str = NAME
) -> dict:
    """Return a kubeconfig with one cluster, user and context, all named ``name``."""
    user = {"token": token} if token else {}
    return {
        "apiVersion": "v1",
        "kind": "Config",
        "preferences": {},
        "clusters": [{"name": name, "cluster": {"server": server_url}}],
        "users": [{"name": name, "user": user}],
        "contexts": [
            {
                "name": name,
                "context": {"cluster": name, "user": name, "namespace": "default"},
            }
        ],
        "current-context": name,
    }


def render_kubeconfig(config: dict) -> str:
    """Return a kubeconfig as YAML text."""
    return yaml.safe_dump(config, sort_keys=False)


def write_kubeconfig(path: str, text: str) -> str:
    """Write kubeconfig text to a file readable by its owner only; return the path."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    return path
