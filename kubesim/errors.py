"""API errors carried as v1 Status objects."""


class ApiError(Exception):
    """An error the API server answers with a Status object."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        causes: list[dict] | None = None,
        *,
        details: dict | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.causes = causes or []
        self.details = dict(details or {})

    def status(self) -> dict:
        """Return the v1 Status object for this error."""
        status = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        details = dict(self.details)
        if self.causes:
            details["causes"] = self.causes
        if details:
            status["details"] = details
        return status

    def __repr__(self) -> str:
        return f"ApiError({self.code}, {self.reason!r}, {self.message!r})"


def _details(rt, name: str | None) -> dict:
    details = {"group": rt.group, "kind": rt.plural}
    if name:
        details["name"] = name
    return details


def _resource(rt) -> str:
    return f"{rt.plural}.{rt.group}" if rt.group else rt.plural


def not_found(rt, name: str) -> ApiError:
    """Return the 404 for a named object that does not exist."""
    return ApiError(
        404,
        "NotFound",
        f'{_resource(rt)} "{name}" not found',
        details=_details(rt, name),
    )


def already_exists(rt, name: str) -> ApiError:
    """Return the 409 for a create over an existing name."""
    return ApiError(
        409,
        "AlreadyExists",
        f'{_resource(rt)} "{name}" already exists',
        details=_details(rt, name),
    )


def conflict(rt, name: str, why: str, causes: list[dict] | None = None) -> ApiError:
    """Return the 409 for an optimistic-concurrency or apply conflict."""
    message = f'Operation cannot be fulfilled on {_resource(rt)} "{name}": {why}'
    return ApiError(409, "Conflict", message, causes, details=_details(rt, name))


def invalid(rt, name: str, causes: list[dict]) -> ApiError:
    """Return the 422 listing every invalid field."""
    summary = ", ".join(
        f"{c['field']}: {c['message']}" if c.get("field") else c["message"]
        for c in causes
    )
    kind = rt.kind
    message = f'{kind}.{rt.group or ""} "{name}" is invalid: [{summary}]'
    if not rt.group:
        message = f'{kind} "{name}" is invalid: [{summary}]'
    details = {"group": rt.group, "kind": kind}
    if name:
        details["name"] = name
    return ApiError(422, "Invalid", message, causes, details=details)


def cause(field: str, message: str, reason: str = "FieldValueInvalid") -> dict:
    """Return one entry of details.causes."""
    return {"reason": reason, "message": message, "field": field}


def bad_request(message: str) -> ApiError:
    """Return a 400 BadRequest."""
    return ApiError(400, "BadRequest", message)


def method_not_allowed(
    message: str = "the server does not allow this method",
) -> ApiError:
    """Return a 405 MethodNotAllowed."""
    return ApiError(405, "MethodNotAllowed", message)


def expired(message: str) -> ApiError:
    """Return the 410 for a resourceVersion older than the watch window."""
    return ApiError(410, "Expired", message)


def forbidden(rt, name: str, message: str) -> ApiError:
    """Return a 403 Forbidden for an operation the server refuses."""
    return ApiError(403, "Forbidden", message, details=_details(rt, name))


def unsupported_media_type(content_type: str) -> ApiError:
    """Return the 415 for a patch type the server does not know."""
    return ApiError(
        415,
        "UnsupportedMediaType",
        f"the body of the request was in an unknown format - "
        f"accepted media types include: application/json-patch+json, "
        f"application/merge-patch+json, application/apply-patch+yaml, "
        f"application/strategic-merge-patch+json (got {content_type!r})",
    )
