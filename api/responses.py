"""Documented error responses, so the OpenAPI document says what the API really answers."""

from __future__ import annotations

from typing import Any

from api.schemas import ErrorBody

# FastAPI's `responses=`: per status, an OpenAPI response object (free-form by the OpenAPI specification).
OpenApiResponses = dict[int | str, dict[str, Any]]

_E = {"model": ErrorBody}
ERRORS: OpenApiResponses = {
    400: {**_E, "description": "Bad parameters"},
    401: {**_E, "description": "Missing or invalid token"},
    404: {**_E, "description": "Not found (or another business's)"},
    413: {**_E, "description": "Request body over API_MAX_BODY_BYTES"},
    422: {**_E, "description": "Validation error"},
}
SYNC_TRIGGER_ERRORS: OpenApiResponses = {
    409: {**_E, "description": "A sync of this business is already active (body has its progress)"},
    503: {**_E, "description": "No worker polls the work pool, or Prefect is unreachable (see `action`)"},
}
CONFLICT: OpenApiResponses = {409: {**_E, "description": "Not allowed in the run's state"}}
UNAVAILABLE: OpenApiResponses = {503: {**_E, "description": "Prefect or storage unreachable"}}
FORBIDDEN: OpenApiResponses = {403: {**_E, "description": "Needs system_admin or the key"}}
