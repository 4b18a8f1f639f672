from django.contrib import admin

from .login import ThrottledAdminAuthenticationForm
from .models import ApiToken

admin.site.login_form = ThrottledAdminAuthenticationForm
admin.site.site_header = "KubeOrch administration"


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "prefix", "created_at", "last_used_at")
    list_select_related = ("user",)
    search_fields = ("user__username", "name", "prefix")
    readonly_fields = ("prefix", "created_at", "last_used_at")
    fields = ("user", "name", "prefix", "created_at", "last_used_at")

    def has_add_permission(self, request) -> bool:
        # A token's clear text is shown once; `manage.py apitoken` prints it.
        return False
