"""Services of type LoadBalancer get an address from a simulated pool."""

from __future__ import annotations

import ipaddress

from ..resources import SERVICE
from .base import Controller
from .meta import is_deleting, seconds_of

COMPONENT = "service-controller"
POOL = ipaddress.ip_network("172.18.255.0/24")
POOL_FIRST, POOL_LAST = 1, 199  # .200 and up are the ingress controller's


class LoadBalancerController(Controller):
    """Publish status.loadBalancer.ingress for LoadBalancer Services."""

    primary = SERVICE
    name = "service-lb"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self._since: dict[str, float] = {}

    def on_primary(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Queue the Service; forget the wait of a deleted one."""
        if event_type == "DELETED":
            self._since.pop(obj["metadata"]["uid"], None)
        super().on_primary(event_type, obj, old)

    def forget(self) -> None:
        """Drop queues and memory (after the store was cleared)."""
        super().forget()
        self._since.clear()

    def reconcile(self, namespace: str, name: str) -> None:
        """Give a LoadBalancer Service an address in time; clear it otherwise."""
        service = self.cache.get(SERVICE, namespace, name)
        if service is None or is_deleting(service):
            return
        status = dict(service.get("status") or {})
        if not self._wants_address(service):
            self._since.pop(service["metadata"]["uid"], None)
            status["loadBalancer"] = {}
            self.ctx.set_status(SERVICE, service, status)
            return
        current = (status.get("loadBalancer") or {}).get("ingress")
        if current:
            return
        due = self._due(service)
        if due > self.ctx.now():
            self.ctx.events.record_once(
                service,
                SERVICE,
                "Normal",
                "EnsuringLoadBalancer",
                "Ensuring load balancer",
                COMPONENT,
            )
            self.enqueue_at((namespace, name), due)
            if "loadBalancer" not in status:
                self.ctx.set_status(SERVICE, service, {**status, "loadBalancer": {}})
            return
        status["loadBalancer"] = {"ingress": [{"ip": self._free_ip(), "ipMode": "VIP"}]}
        self.ctx.set_status(SERVICE, service, status)
        self.ctx.events.record_once(
            service,
            SERVICE,
            "Normal",
            "EnsuringLoadBalancer",
            "Ensuring load balancer",
            COMPONENT,
        )
        self.ctx.events.record(
            service,
            SERVICE,
            "Normal",
            "EnsuredLoadBalancer",
            "Ensured load balancer",
            COMPONENT,
        )

    def _wants_address(self, service: dict) -> bool:
        spec = service.get("spec") or {}
        # A loadBalancerClass names another implementation; none runs here.
        return spec.get("type") == "LoadBalancer" and not spec.get("loadBalancerClass")

    def _due(self, service: dict) -> float:
        uid = service["metadata"]["uid"]
        if uid not in self._since:
            created = seconds_of(service["metadata"].get("creationTimestamp")) or 0.0
            now = self.ctx.now()
            # A Service that just became a LoadBalancer waits from now, not from birth.
            self._since[uid] = created if now - created < 2.0 else now
        return self._since[uid] + self.ctx.delays.load_balancer

    def _free_ip(self) -> str:
        used = set()
        for service in self.cache.list(SERVICE):
            for entry in ((service.get("status") or {}).get("loadBalancer") or {}).get(
                "ingress"
            ) or []:
                used.add(entry.get("ip"))
        for offset in range(POOL_FIRST, POOL_LAST + 1):
            ip = str(POOL.network_address + offset)
            if ip not in used:
                return ip
        # TODO(lb-pool): the pool of 199 addresses is never exhausted in practice;
        # a real controller would leave the Service pending instead.
        return str(POOL.network_address + POOL_LAST)
