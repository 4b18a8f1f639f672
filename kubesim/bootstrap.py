"""The objects a fresh simulated cluster starts with.

Three worker nodes, the four standard namespaces, two storage classes (the
default binds at once, "local-wait" waits for the first consumer) and the
default ingress class. Creating them is idempotent: only missing objects
are created, so bootstrapping again after a reset is safe.
"""

from __future__ import annotations

import hashlib
import logging

from . import SERVER_VERSION
from .clock import format_micro_time
from .resources import (
    INGRESSCLASS,
    LEASE,
    NAMESPACE,
    NODE,
    SERVICEACCOUNT,
    STORAGECLASS,
)

logger = logging.getLogger(__name__)

NODE_NAMES = ("kubesim-node-1", "kubesim-node-2", "kubesim-node-3")
ZONES = ("kubesim-a", "kubesim-b", "kubesim-c")
NAMESPACES = ("default", "kube-system", "kube-public", "kube-node-lease")
NODE_CAPACITY = {
    "cpu": "4",
    "memory": "8Gi",
    "pods": "110",
    "ephemeral-storage": "100Gi",
}
PROVISIONER = "kubesim.io/hostpath"
INGRESS_CONTROLLER = "kubesim.io/ingress-controller"


def bootstrap(store) -> None:
    """Create whatever standard cluster object is missing from the store."""
    # TODO(bootstrap-system): no kube-system pods and no "kubernetes" Service
    # (its ClusterIP belongs to the server's allocator); node heartbeats and
    # Lease renewals are not refreshed, to keep watches quiet.
    with store.lock:
        for name in NAMESPACES:
            _ensure(store, NAMESPACE, namespace_object(name))
        for index, name in enumerate(NODE_NAMES):
            _ensure(store, NODE, node_object(name, index, store.clock.stamp()))
            _ensure(store, LEASE, lease_object(name, store.clock))
        for name in NAMESPACES:
            _ensure(store, SERVICEACCOUNT, _service_account(name))
        _ensure(
            store, STORAGECLASS, storage_class("standard", "Immediate", default=True)
        )
        _ensure(
            store, STORAGECLASS, storage_class("local-wait", "WaitForFirstConsumer")
        )
        _ensure(store, INGRESSCLASS, ingress_class())


def _ensure(store, rt, obj: dict) -> None:
    meta = obj["metadata"]
    if store.get(rt, meta.get("namespace"), meta["name"]) is None:
        store.create(rt, obj)
        logger.debug("bootstrapped %s %s", rt.kind, meta["name"])


def namespace_object(name: str) -> dict:
    """Return an Active namespace."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {"name": name, "labels": {"kubernetes.io/metadata.name": name}},
        "spec": {"finalizers": ["kubernetes"]},
        "status": {"phase": "Active"},
    }


def node_object(name: str, index: int, now: str) -> dict:
    """Return a Ready worker node with 4 CPUs, 8Gi of memory and room for 110 pods."""
    ip = f"172.18.0.{index + 2}"
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "labels": {
                "beta.kubernetes.io/arch": "amd64",
                "beta.kubernetes.io/os": "linux",
                "kubernetes.io/arch": "amd64",
                "kubernetes.io/hostname": name,
                "kubernetes.io/os": "linux",
                "topology.kubernetes.io/region": "kubesim",
                "topology.kubernetes.io/zone": ZONES[index % len(ZONES)],
            },
            "annotations": {
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": {
            "podCIDR": f"10.244.{index + 1}.0/24",
            "podCIDRs": [f"10.244.{index + 1}.0/24"],
            "providerID": f"kubesim://{name}",
        },
        "status": {
            "capacity": dict(NODE_CAPACITY),
            "allocatable": dict(NODE_CAPACITY),
            "conditions": _node_conditions(now),
            "addresses": [
                {"type": "InternalIP", "address": ip},
                {"type": "Hostname", "address": name},
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": _node_info(name),
            "images": [],
        },
    }


def _node_conditions(now: str) -> list[dict]:
    def condition(kind, status, reason, message):
        return {
            "type": kind,
            "status": status,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        }

    return [
        condition(
            "MemoryPressure",
            "False",
            "KubeletHasSufficientMemory",
            "kubelet has sufficient memory available",
        ),
        condition(
            "DiskPressure",
            "False",
            "KubeletHasNoDiskPressure",
            "kubelet has no disk pressure",
        ),
        condition(
            "PIDPressure",
            "False",
            "KubeletHasSufficientPID",
            "kubelet has sufficient PID available",
        ),
        condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
    ]


def _node_info(name: str) -> dict:
    digest = hashlib.sha256(name.encode()).hexdigest()
    version = SERVER_VERSION["gitVersion"].split("-")[0]
    return {
        "architecture": "amd64",
        "bootID": _as_uuid(digest[:32]),
        "containerRuntimeVersion": "containerd://1.7.24",
        "kernelVersion": "6.1.0-kubesim",
        "kubeProxyVersion": version,
        "kubeletVersion": version,
        "machineID": digest[:32],
        "operatingSystem": "linux",
        "osImage": "Debian GNU/Linux 12 (bookworm)",
        "systemUUID": _as_uuid(digest[32:]),
    }


def _as_uuid(hex32: str) -> str:
    return f"{hex32[:8]}-{hex32[8:12]}-{hex32[12:16]}-{hex32[16:20]}-{hex32[20:32]}"


def lease_object(node_name: str, clock) -> dict:
    """Return the node's heartbeat Lease in kube-node-lease."""
    return {
        "apiVersion": "coordination.k8s.io/v1",
        "kind": "Lease",
        "metadata": {"name": node_name, "namespace": "kube-node-lease"},
        "spec": {
            "holderIdentity": node_name,
            "leaseDurationSeconds": 40,
            "renewTime": format_micro_time(clock.now()),
        },
    }


def _service_account(namespace: str) -> dict:
    return {
        "apiVersion": "v1",
        "kind": "ServiceAccount",
        "metadata": {"name": "default", "namespace": namespace},
    }


def storage_class(name: str, binding_mode: str, *, default: bool = False) -> dict:
    """Return a StorageClass served by the simulated hostpath provisioner."""
    meta = {"name": name}
    if default:
        meta["annotations"] = {"storageclass.kubernetes.io/is-default-class": "true"}
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": meta,
        "provisioner": PROVISIONER,
        "reclaimPolicy": "Delete",
        "volumeBindingMode": binding_mode,
        "allowVolumeExpansion": True,
    }


def ingress_class() -> dict:
    """Return the default IngressClass, served by the simulated ingress controller."""
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IngressClass",
        "metadata": {
            "name": "kubesim",
            "annotations": {"ingressclass.kubernetes.io/is-default-class": "true"},
        },
        "spec": {"controller": INGRESS_CONTROLLER},
    }
