"""The one name for genuinely free-form JSON: a Prefect API payload, a JSON column read back raw, an error body's
details. A value with a fixed shape gets its own type in the module that owns it (a dataclass, a pydantic model,
or a TypedDict where it is stored as JSON), never this."""

from __future__ import annotations

from typing import Any

JsonObject = dict[str, Any]
