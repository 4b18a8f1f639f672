"""kubesim: a simulated Kubernetes API server for tests and the embedded default."""

SERVER_VERSION = {"major": "1", "minor": "32", "gitVersion": "v1.32.4-kubesim"}

__all__ = ["SERVER_VERSION"]
