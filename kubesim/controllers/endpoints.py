"""Service → Endpoints and EndpointSlices, from the pods the selector picks."""

from __future__ import annotations

from ..resources import ENDPOINTS, ENDPOINTSLICE, NODE, POD, SERVICE
from ..selectors import selector_from_labels
from ..store import clone
from .base import Controller
from .meta import is_deleting, owner_reference, random_suffix
from .pods import is_ready, is_terminal

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
SLICE_MANAGER = "endpointslice-controller.k8s.io"
HEADLESS_LABEL = "service.kubernetes.io/headless"
ZONE_LABEL = "topology.kubernetes.io/zone"


class EndpointsController(Controller):
    """Keep a Service's Endpoints and EndpointSlices equal to its selected pods."""

    primary = SERVICE
    name = "endpoints"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.watches[POD.key] = self.on_pod
        self.watches[ENDPOINTS.key] = self.on_endpoints
        self.watches[ENDPOINTSLICE.key] = self.on_slice

    def on_pod(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Queue the Services whose selector matches the pod, before or after."""
        namespace = obj["metadata"]["namespace"]
        label_sets = [obj["metadata"].get("labels") or {}]
        if old is not None:
            label_sets.append(old["metadata"].get("labels") or {})
        for service in self.cache.list(SERVICE, namespace):
            selector = (service.get("spec") or {}).get("selector")
            if selector and any(
                selector_from_labels(selector).matches(ls) for ls in label_sets
            ):
                self.enqueue((namespace, service["metadata"]["name"]))

    def on_endpoints(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Put back Endpoints that someone else changed or deleted."""
        self.enqueue_obj(obj)

    def on_slice(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Put back EndpointSlices that someone else changed or deleted."""
        service = (obj["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL)
        if service:
            self.enqueue((obj["metadata"]["namespace"], service))

    def reconcile(self, namespace: str, name: str) -> None:
        """Write the Endpoints and slices the Service's pods call for."""
        service = self.cache.get(SERVICE, namespace, name)
        if service is None or is_deleting(service):
            self._remove(namespace, name)
            return
        spec = service.get("spec") or {}
        if not spec.get("selector") or spec.get("type") == "ExternalName":
            return  # endpoints of a selector-less Service belong to its author
        pods = self._selected_pods(service)
        groups = _group_by_ports(service, pods)
        self._write_endpoints(service, groups)
        self._write_slices(service, groups)

    def _selected_pods(self, service: dict) -> list[dict]:
        namespace = service["metadata"]["namespace"]
        selector = selector_from_labels(service["spec"]["selector"])
        return [
            pod
            for pod in self.cache.list(POD, namespace)
            if selector.matches(pod["metadata"].get("labels"))
            and not is_terminal(pod)
            and not is_deleting(pod)
            and (pod.get("status") or {}).get("podIP")
        ]

    def _remove(self, namespace: str, name: str) -> None:
        endpoints = self.cache.get(ENDPOINTS, namespace, name)
        if endpoints is not None:
            self.ctx.delete(ENDPOINTS, endpoints)
        for item in self._slices(namespace, name):
            self.ctx.delete(ENDPOINTSLICE, item)

    # ----- Endpoints

    def _write_endpoints(self, service: dict, groups: list[tuple[tuple, list]]) -> None:
        meta = service["metadata"]
        publish_all = bool(service["spec"].get("publishNotReadyAddresses"))
        subsets = []
        for ports, pods in groups:
            subset = {}
            ready = [p for p in pods if publish_all or is_ready(p)]
            unready = [p for p in pods if not (publish_all or is_ready(p))]
            if ready:
                subset["addresses"] = [self._address(p, service) for p in ready]
            if unready:
                subset["notReadyAddresses"] = [
                    self._address(p, service) for p in unready
                ]
            subset["ports"] = [_port_entry(p) for p in ports]
            subsets.append(subset)
        wanted = {
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {
                "name": meta["name"],
                "namespace": meta["namespace"],
                "labels": _labels(service),
            },
        }
        if subsets:
            wanted["subsets"] = subsets
        self._put(
            ENDPOINTS,
            self.cache.get(ENDPOINTS, meta["namespace"], meta["name"]),
            wanted,
        )

    def _address(self, pod: dict, service: dict) -> dict:
        meta = pod["metadata"]
        spec = pod.get("spec") or {}
        address = {"ip": pod["status"]["podIP"]}
        if (
            spec.get("hostname")
            and spec.get("subdomain") == service["metadata"]["name"]
        ):
            address["hostname"] = spec["hostname"]
        if spec.get("nodeName"):
            address["nodeName"] = spec["nodeName"]
        address["targetRef"] = {
            "kind": "Pod",
            "namespace": meta["namespace"],
            "name": meta["name"],
            "uid": meta["uid"],
        }
        return address

    # ----- EndpointSlices

    def _slices(self, namespace: str, service_name: str) -> list[dict]:
        return sorted(
            (
                s
                for s in self.cache.list(ENDPOINTSLICE, namespace)
                if (s["metadata"].get("labels") or {}).get(SERVICE_NAME_LABEL)
                == service_name
                and (s["metadata"].get("labels") or {}).get(MANAGED_BY_LABEL)
                == SLICE_MANAGER
            ),
            key=lambda s: s["metadata"]["name"],
        )

    def _write_slices(self, service: dict, groups: list[tuple[tuple, list]]) -> None:
        meta = service["metadata"]
        existing = self._slices(meta["namespace"], meta["name"])
        by_ports = {_slice_ports_key(s): s for s in existing}
        wanted_groups = groups or [((), [])]
        kept = set()
        for ports, pods in wanted_groups:
            key = tuple(sorted((p["name"], p["port"], p["protocol"]) for p in ports))
            current = by_ports.get(key)
            if current is None:
                current = next(
                    (s for s in existing if s["metadata"]["name"] not in kept), None
                )
            wanted = self._slice(service, ports, pods, current)
            kept.add(wanted["metadata"]["name"])
            self._put(ENDPOINTSLICE, current, wanted)
        for item in existing:
            if item["metadata"]["name"] not in kept:
                self.ctx.delete(ENDPOINTSLICE, item)

    def _slice(
        self, service: dict, ports: tuple, pods: list, current: dict | None
    ) -> dict:
        meta = service["metadata"]
        publish_all = bool(service["spec"].get("publishNotReadyAddresses"))
        name = current["metadata"]["name"] if current else self._slice_name(meta)
        labels = _labels(service)
        labels[SERVICE_NAME_LABEL] = meta["name"]
        labels[MANAGED_BY_LABEL] = SLICE_MANAGER
        endpoints = [self._endpoint(p, service, publish_all) for p in pods]
        return {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {
                "name": name,
                "generateName": f"{meta['name']}-",
                "namespace": meta["namespace"],
                "labels": labels,
                "ownerReferences": [owner_reference(service, SERVICE)],
            },
            "addressType": "IPv4",
            "endpoints": endpoints or None,
            "ports": [_port_entry(p) for p in ports] or None,
        }

    def _slice_name(self, meta: dict) -> str:
        while True:
            name = f"{meta['name']}-{random_suffix(self.ctx.rng)}"
            if self.cache.get(ENDPOINTSLICE, meta["namespace"], name) is None:
                return name

    def _endpoint(self, pod: dict, service: dict, publish_all: bool) -> dict:
        spec = pod.get("spec") or {}
        ready = is_ready(pod)
        endpoint = {
            "addresses": [pod["status"]["podIP"]],
            "conditions": {
                "ready": ready or publish_all,
                "serving": ready,
                "terminating": False,
            },
        }
        if (
            spec.get("hostname")
            and spec.get("subdomain") == service["metadata"]["name"]
        ):
            endpoint["hostname"] = spec["hostname"]
        if spec.get("nodeName"):
            endpoint["nodeName"] = spec["nodeName"]
            node = self.cache.get(NODE, None, spec["nodeName"])
            zone = ((node or {}).get("metadata", {}).get("labels") or {}).get(
                ZONE_LABEL
            )
            if zone:
                endpoint["zone"] = zone
        endpoint["targetRef"] = {
            "kind": "Pod",
            "namespace": pod["metadata"]["namespace"],
            "name": pod["metadata"]["name"],
            "uid": pod["metadata"]["uid"],
        }
        return endpoint

    # ----- writing

    def _put(self, rt, current: dict | None, wanted: dict) -> None:
        """Create the object, or update it when its content differs."""
        if current is None:
            self.ctx.create(rt, wanted)
            return
        updated = clone(current)
        updated["metadata"]["labels"] = wanted["metadata"]["labels"]
        if "ownerReferences" in wanted["metadata"]:
            updated["metadata"]["ownerReferences"] = wanted["metadata"][
                "ownerReferences"
            ]
        for field in ("subsets", "addressType", "endpoints", "ports"):
            if field in wanted:
                updated[field] = wanted[field]
            else:
                updated.pop(field, None)
        if updated != current:
            self.ctx.update(rt, updated)


def _labels(service: dict) -> dict:
    labels = dict(service["metadata"].get("labels") or {})
    if (service.get("spec") or {}).get("clusterIP") == "None":
        labels[HEADLESS_LABEL] = ""
    return labels


def _group_by_ports(service: dict, pods: list[dict]) -> list[tuple[tuple, list]]:
    """Group pods by the ports the Service's target ports resolve to on them."""
    groups: dict[tuple, list] = {}
    for pod in sorted(pods, key=lambda p: _ip_key(p["status"]["podIP"])):
        ports = _resolve_ports(service, pod)
        if not ports:
            continue
        key = tuple(tuple(sorted(p.items())) for p in ports)
        groups.setdefault(key, []).append(pod)
    return [(tuple(dict(p) for p in key), members) for key, members in groups.items()]


def _resolve_ports(service: dict, pod: dict) -> list[dict]:
    resolved = []
    for port in (service.get("spec") or {}).get("ports") or []:
        number = _target_port(port, pod)
        if number is None:
            continue
        entry = {
            "name": port.get("name") or "",
            "port": number,
            "protocol": port.get("protocol") or "TCP",
        }
        if port.get("appProtocol"):
            entry["appProtocol"] = port["appProtocol"]
        resolved.append(entry)
    return resolved


def _target_port(port: dict, pod: dict) -> int | None:
    """Resolve a Service port's targetPort on a pod (a name means a container port)."""
    target = port.get("targetPort", port.get("port"))
    if isinstance(target, int):
        return target
    if isinstance(target, str) and target.isdigit():
        return int(target)
    for container in (pod.get("spec") or {}).get("containers") or []:
        for container_port in container.get("ports") or []:
            if container_port.get("name") == target and container_port.get(
                "protocol", "TCP"
            ) == (port.get("protocol") or "TCP"):
                return container_port.get("containerPort")
    return None


def _port_entry(port: dict) -> dict:
    entry = {}
    if port.get("name"):
        entry["name"] = port["name"]
    entry["port"] = port["port"]
    entry["protocol"] = port["protocol"]
    if port.get("appProtocol"):
        entry["appProtocol"] = port["appProtocol"]
    return entry


def _slice_ports_key(item: dict) -> tuple:
    return tuple(
        sorted(
            (p.get("name", ""), p.get("port"), p.get("protocol", "TCP"))
            for p in item.get("ports") or []
        )
    )


def _ip_key(ip: str) -> tuple:
    return tuple(int(part) for part in ip.split(".") if part.isdigit())
