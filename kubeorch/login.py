"""The login page, rate limited per client address and per username.

Failed attempts are counted in the cache for a window of time; past the
limit the form is refused before the password is checked, so guessing
passwords costs the attacker the whole window.
"""

import logging

from django import forms
from django.contrib.admin.forms import AdminAuthenticationForm
from django.contrib.auth import views as auth_views
from django.contrib.auth.forms import AuthenticationForm
from django.core.cache import cache
from django.utils.translation import ngettext

logger = logging.getLogger(__name__)

# The counts live in the default cache, which settings point at Redis, so
# every web process shares them.
WINDOW_SECONDS = 300
MAX_FAILURES_PER_USERNAME = 5
MAX_FAILURES_PER_ADDRESS = 20


def client_address(request) -> str:
    """Return the address the request came from (no proxy is trusted)."""
    return request.META.get("REMOTE_ADDR") or "unknown"


def _keys(request, username: str) -> tuple[str, str]:
    address = client_address(request)
    return (
        f"login-failures:user:{address}:{username.strip().lower()}",
        f"login-failures:addr:{address}",
    )


def is_throttled(request, username: str) -> bool:
    """Tell whether this address, or this address and username, is locked out."""
    user_key, address_key = _keys(request, username)
    return (
        cache.get(user_key, 0) >= MAX_FAILURES_PER_USERNAME
        or cache.get(address_key, 0) >= MAX_FAILURES_PER_ADDRESS
    )


def record_failure(request, username: str) -> None:
    """Count one failed attempt for the address and the username."""
    for key in _keys(request, username):
        # add() starts the window; incr() keeps its expiry.
        if not cache.add(key, 1, WINDOW_SECONDS):
            try:
                cache.incr(key)
            except ValueError:
                cache.set(key, 1, WINDOW_SECONDS)


def clear_failures(request, username: str) -> None:
    """Forget the failures of a username once it logged in."""
    user_key, _ = _keys(request, username)
    cache.delete(user_key)


class ThrottledAuthenticationForm(AuthenticationForm):
    """Django's login form that refuses to check passwords while locked out."""

    error_messages = {
        **AuthenticationForm.error_messages,
        "throttled": ngettext(
            "Too many failed logins. Wait %(minutes)d minute and try again.",
            "Too many failed logins. Wait %(minutes)d minutes and try again.",
            WINDOW_SECONDS // 60,
        ),
    }

    def clean(self):
        username = self.cleaned_data.get("username") or ""
        if is_throttled(self.request, username):
            logger.warning(
                "login refused for %s from %s: too many failures",
                username,
                client_address(self.request),
            )
            raise forms.ValidationError(
                self.error_messages["throttled"],
                code="throttled",
                params={"minutes": WINDOW_SECONDS // 60},
            )
        try:
            cleaned = super().clean()
        except forms.ValidationError:
            record_failure(self.request, username)
            raise
        clear_failures(self.request, username)
        return cleaned


class LoginView(auth_views.LoginView):
    """The login page; a refused attempt answers 429 once locked out."""

    form_class = ThrottledAuthenticationForm
    redirect_authenticated_user = True

    def form_invalid(self, form):
        response = super().form_invalid(form)
        if form.has_error("__all__", "throttled"):
            response.status_code = 429
        return response


class ThrottledAdminAuthenticationForm(
    ThrottledAuthenticationForm, AdminAuthenticationForm
):
    """The admin's login form (staff only), with the same throttle."""
