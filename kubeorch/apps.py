from django.apps import AppConfig


class KubeorchConfig(AppConfig):
    name = "kubeorch"
    verbose_name = "KubeOrch"
