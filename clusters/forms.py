"""Forms of the cluster pages."""

from django import forms

from .models import Cluster

METHOD_CHOICES = [
    (Cluster.AuthMethod.KUBECONFIG, "Kubeconfig"),
    (Cluster.AuthMethod.TOKEN, "Server URL and bearer token"),
]
MAX_KUBECONFIG_BYTES = 256 * 1024


class AddClusterForm(forms.Form):
    """Register a cluster by kubeconfig (uploaded or pasted) or by token."""

    name = forms.CharField(max_length=100)
    description = forms.CharField(
        required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    auth_method = forms.ChoiceField(
        choices=METHOD_CHOICES,
        initial=Cluster.AuthMethod.KUBECONFIG,
        widget=forms.RadioSelect,
        label="Connect with",
    )
    kubeconfig_file = forms.FileField(
        required=False,
        label="Kubeconfig file",
        help_text="Its current context is used. Exec and auth-provider plugins "
        "are refused.",
    )
    kubeconfig = forms.CharField(
        required=False,
        strip=False,
        label="…or paste the kubeconfig",
        widget=forms.Textarea(attrs={"rows": 6, "spellcheck": "false"}),
    )
    server = forms.CharField(
        required=False, label="API server URL", help_text="e.g. https://10.0.0.1:6443"
    )
    token = forms.CharField(
        required=False,
        label="Bearer token",
        widget=forms.PasswordInput(render_value=True),
    )
    ca_data = forms.CharField(
        required=False,
        label="CA certificate",
        help_text="PEM, or base64 of PEM; empty: the system's trusted CAs.",
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
    )
    insecure_skip_tls_verify = forms.BooleanField(
        required=False, label="Skip TLS verification (not recommended)"
    )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("auth_method") == Cluster.AuthMethod.KUBECONFIG:
            self._clean_kubeconfig(cleaned)
        return cleaned

    def _clean_kubeconfig(self, cleaned: dict) -> None:
        upload = cleaned.get("kubeconfig_file")
        if upload:
            if upload.size > MAX_KUBECONFIG_BYTES:
                self.add_error("kubeconfig_file", "The file is larger than 256 KiB.")
                return
            try:
                cleaned["kubeconfig"] = upload.read().decode("utf-8")
            except UnicodeDecodeError:
                self.add_error("kubeconfig_file", "The file is not UTF-8 text.")
                return
        if not cleaned.get("kubeconfig", "").strip():
            self.add_error("kubeconfig", "Upload a kubeconfig file or paste one.")

    def credentials(self) -> dict:
        """Return the chosen method's credentials, as the actions take them."""
        data = self.cleaned_data
        if data["auth_method"] == Cluster.AuthMethod.KUBECONFIG:
            return {"kubeconfig": data["kubeconfig"]}
        credentials = {"server": data["server"], "token": data["token"]}
        if data["ca_data"]:
            credentials["ca_data"] = data["ca_data"]
        if data["insecure_skip_tls_verify"]:
            credentials["insecure_skip_tls_verify"] = True
        return credentials
