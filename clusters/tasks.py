"""Celery tasks of clusters. They call `clusters.actions`."""

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded

from . import actions

logger = logging.getLogger(__name__)


@shared_task(soft_time_limit=240, time_limit=300)
def check_clusters_task() -> dict[str, int]:
    """Probe every cluster and store reachability, version, nodes, namespaces.

    Each probe is bounded by KUBEORCH_KUBE_TIMEOUT per request and eight run
    at once, so the limits leave room for many dead clusters.
    """
    try:
        return actions.check_clusters()
    except SoftTimeLimitExceeded:
        # TODO(cluster-check): results of the probes that did finish are lost
        # here; store them as they arrive once there are enough clusters for
        # this limit to matter. Idempotent: the next tick checks all again.
        logger.warning("checking the clusters took longer than 240 s; stopped")
        return {}
