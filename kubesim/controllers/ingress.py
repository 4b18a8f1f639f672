"""Ingresses of the kubesim class get the ingress controller's address."""

from __future__ import annotations

from ..resources import INGRESS, INGRESSCLASS
from .base import Controller
from .meta import is_deleting, seconds_of

COMPONENT = "kubesim-ingress-controller"
CONTROLLER = "kubesim.io/ingress-controller"
ADDRESS = "172.18.255.200"
DEFAULT_CLASS = "ingressclass.kubernetes.io/is-default-class"
LEGACY_CLASS = "kubernetes.io/ingress.class"


class IngressController(Controller):
    """Publish an address for Ingresses whose class this controller serves."""

    primary = INGRESS
    name = "ingress"

    def __init__(self, ctx) -> None:
        super().__init__(ctx)
        self.watches[INGRESSCLASS.key] = self.on_class

    def on_class(self, event_type: str, obj: dict, old: dict | None) -> None:
        """Re-examine every Ingress when an IngressClass changes."""
        for ingress in self.cache.list(INGRESS):
            self.enqueue_obj(ingress)

    def reconcile(self, namespace: str, name: str) -> None:
        """Set or clear the Ingress address, depending on who serves its class."""
        ingress = self.cache.get(INGRESS, namespace, name)
        if ingress is None or is_deleting(ingress):
            return
        status = dict(ingress.get("status") or {})
        ours = [{"ip": ADDRESS}]
        published = (status.get("loadBalancer") or {}).get("ingress")
        if not self._served(ingress):
            # Nobody serves the class: the address stays empty forever.
            if published == ours:
                self.ctx.set_status(INGRESS, ingress, {**status, "loadBalancer": {}})
            return
        if published == ours:
            return
        due = (seconds_of(ingress["metadata"].get("creationTimestamp")) or 0.0) + (
            self.ctx.delays.ingress_address
        )
        if due > self.ctx.now():
            self.enqueue_at((namespace, name), due)
            return
        self.ctx.set_status(
            INGRESS, ingress, {**status, "loadBalancer": {"ingress": ours}}
        )
        self.ctx.events.record(
            ingress, INGRESS, "Normal", "Sync", "Scheduled for sync", COMPONENT
        )

    def _served(self, ingress: dict) -> bool:
        class_name = (ingress.get("spec") or {}).get("ingressClassName") or (
            ingress["metadata"].get("annotations") or {}
        ).get(LEGACY_CLASS)
        if class_name:
            ingress_class = self.cache.get(INGRESSCLASS, None, class_name)
        else:
            ingress_class = self._default_class()
        return (
            bool(ingress_class)
            and (ingress_class.get("spec") or {}).get("controller") == CONTROLLER
        )

    def _default_class(self) -> dict | None:
        for ingress_class in self.cache.list(INGRESSCLASS):
            annotations = ingress_class["metadata"].get("annotations") or {}
            if annotations.get(DEFAULT_CLASS) == "true":
                return ingress_class
        return None
