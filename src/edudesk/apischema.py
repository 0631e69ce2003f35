"""What every operation of the REST API shares in its OpenAPI contract: one error shape, closed models, and the
4xx answers each operation can give.

The document at ``/api/openapi.json`` is a contract integrators generate clients from and that schemathesis checks
(tests/test_openapi_contract.py): every status the API answers is listed with the ``ErrorResponse`` schema (which
replaces FastAPI's ``{"detail": …}`` 422), every request and response model is closed (``additionalProperties:
false``; an unknown body field is a 422, not silently ignored), and text fields state the rule the text guard
enforces (no NUL or control characters).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query
from pydantic import BaseModel, ConfigDict, Field

from edudesk.inputs import MAX_DB_ID, CleanStr
from edudesk.textguard import NO_CONTROL_PATTERN


class ApiModel(BaseModel):
    """Base of every request and response model of the API: unknown fields are refused, and say so in the schema."""

    model_config = ConfigDict(extra="forbid")


class ErrorBody(ApiModel):
    code: str = Field(description="machine-readable reason, e.g. not_found, invalid_request, invalid_text")
    message: str = Field(description="a sentence for people (Chinese)")
    field: str | None = Field(description="the input at fault (dotted path into the body), or null")


class ErrorResponse(ApiModel):
    error: ErrorBody


# An id inside a JSON body: what the id columns hold (``inputs.MAX_DB_ID``, 2^31 − 1), which a JavaScript client
# holds exactly and a JSON validator compares exactly (2^63 − 1 is not representable as a double).
ApiId = Annotated[int, Field(ge=1, le=MAX_DB_ID)]

# Text a client may send: the JSON schema states the rule; the text guard and ``CleanStr`` enforce it.
ApiText = Annotated[CleanStr, Field(json_schema_extra={"pattern": NO_CONTROL_PATTERN})]

# Keys of a field map (a lead card's fields, a ticket's custom fields): the rule both areas give their field keys.
# The map says ``additionalProperties: false`` beside the pattern, or a key outside it would count as allowed.
FieldKey = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")]
CLOSED_MAP: dict[str, Any] = {"additionalProperties": False}

_DESCRIPTIONS = {
    400: "请求符合格式，但不符合业务规则（如日期先后、机构未定义的字段），或请求体无法解析",
    401: "缺少或无效的凭证",
    403: "凭证没有所需权限",
    404: "记录不存在（或属于其他机构）",
    409: "与现有数据冲突",
    413: "内容过大",
    415: "不支持的文件类型",
    422: "参数不合法（字段见 error.field）",
    429: "请求过于频繁，请稍后再试",
}
API_ERRORS = (400, 401, 403, 404, 409, 422)


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """The ``responses=`` of a route: each status documented with ``ErrorResponse``."""
    return {status: {"model": ErrorResponse, "description": _DESCRIPTIONS[status]} for status in statuses}


def replace_default_validation_error(schema: dict[str, Any]) -> dict[str, Any]:
    """FastAPI adds its own 422 (``HTTPValidationError``) to every operation with parameters; the API answers
    ``ErrorResponse`` instead, so the schema says that, and FastAPI's two models leave the document."""
    ref = {"$ref": "#/components/schemas/ErrorResponse"}
    for operations in schema.get("paths", {}).values():
        for operation in operations.values():
            unprocessable = operation.get("responses", {}).get("422")
            if unprocessable is not None:
                unprocessable["description"] = _DESCRIPTIONS[422]
                unprocessable["content"] = {"application/json": {"schema": ref}}
    components = schema.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        components.pop(name, None)
    return schema


def query_text(max_length: int, **kwargs: Any) -> Any:
    """``Query(...)`` for a text parameter of the API: its length and the no-control-characters rule, documented."""
    if "pattern" in kwargs:  # a stricter pattern of the route's own already excludes control characters
        return Query(max_length=max_length, **kwargs)
    return Query(max_length=max_length, json_schema_extra={"pattern": NO_CONTROL_PATTERN}, **kwargs)
