"""JSON API of accounts (/api/v1), plus the human-readable API docs page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint as FlaskBlueprint
from flask import abort, render_template
from flask_login import current_user

from accounts.auth import authenticated_by_token
from accounts.permissions import current_org, current_roles
from accounts.schemas import ApiErrorSchema, ApiTokenSchema, MeSchema
from accounts.services import tokens as token_service
from core.api import Blueprint
from core.extensions import api

blp = Blueprint(
    "accounts_api",
    __name__,
    description="The caller's identity and API tokens. Authenticate with `Authorization: Bearer <token>`.",
)

BEARER = [{"bearerAuth": []}]


def _require_user():
    if not current_user.is_authenticated:
        abort(401)
    return current_user._get_current_object()


@blp.route("/me", methods=["GET"])
@blp.doc(security=BEARER, summary="The caller, the current organization and its roles")
@blp.response(200, MeSchema)
@blp.alt_response(401, schema=ApiErrorSchema, description="Missing, unknown, expired or revoked token")
def me() -> dict[str, Any]:
    """With an API token the organization is the token's organization."""
    user = _require_user()
    return {
        "user": user,
        "organization": current_org(),
        "roles": sorted(current_roles()),
        "auth": "token" if authenticated_by_token() else "session",
    }


@blp.route("/tokens", methods=["GET"])
@blp.doc(security=BEARER, summary="The caller's API tokens (never the secret)")
@blp.response(200, ApiTokenSchema(many=True))
@blp.alt_response(401, schema=ApiErrorSchema, description="Not authenticated")
def list_tokens():
    user = _require_user()
    rows = token_service.list_tokens(user)
    for row in rows:
        row.status = token_service.token_status(row)
    return rows


@blp.route("/tokens/<int:token_id>/revoke", methods=["POST"])
@blp.doc(security=BEARER, summary="Revoke one of the caller's API tokens (may be the one in use)")
@blp.response(200, ApiTokenSchema)
@blp.alt_response(401, schema=ApiErrorSchema, description="Not authenticated")
@blp.alt_response(404, schema=ApiErrorSchema, description="No such token of the caller")
def revoke_token(token_id: int):
    user = _require_user()
    row = token_service.revoke_token(user, token_id)
    row.status = token_service.token_status(row)
    return row


# --------------------------------------------------------------------------- docs page

docs_bp = FlaskBlueprint("api_docs", __name__)

HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def _ref_name(schema: dict | None) -> str | None:
    if not isinstance(schema, dict):
        return None
    if "$ref" in schema:
        return schema["$ref"].rsplit("/", 1)[-1]
    if schema.get("type") == "array":
        inner = _ref_name(schema.get("items"))
        return f"[{inner}]" if inner else "array"
    return schema.get("type")


def _content_schema(obj: dict | None) -> str | None:
    content = (obj or {}).get("content") or {}
    media = content.get("application/json") or next(iter(content.values()), None)
    return _ref_name((media or {}).get("schema"))


def docs_model(spec: dict) -> dict[str, Any]:
    """Flatten an OpenAPI 3 document into what the docs template lists."""
    operations = []
    for path, item in sorted((spec.get("paths") or {}).items()):
        shared = item.get("parameters") or []
        for method in HTTP_METHODS:
            op = item.get(method)
            if not op:
                continue
            params = [
                {
                    "name": p.get("name"),
                    "in": p.get("in"),
                    "required": p.get("required", False),
                    "type": _ref_name(p.get("schema")) or "",
                    "description": p.get("description", ""),
                }
                for p in shared + (op.get("parameters") or [])
            ]
            responses = [
                {"status": code, "description": r.get("description", ""), "schema": _content_schema(r)}
                for code, r in sorted((op.get("responses") or {}).items())
            ]
            operations.append(
                {
                    "path": path,
                    "method": method.upper(),
                    "summary": op.get("summary", ""),
                    "description": op.get("description", ""),
                    "tags": op.get("tags", []),
                    "security": [name for req in (op.get("security") or []) for name in req],
                    "parameters": params,
                    "request": _content_schema(op.get("requestBody")),
                    "responses": responses,
                    "anchor": f"{method}-{path}".replace("/", "-").replace("{", "").replace("}", ""),
                }
            )
    schemas = []
    for name, schema in sorted(((spec.get("components") or {}).get("schemas") or {}).items()):
        required = set(schema.get("required") or [])
        props = [
            {
                "name": pname,
                "type": _ref_name(p) or ("object" if "properties" in p else ""),
                "format": p.get("format", ""),
                "required": pname in required,
                "nullable": p.get("nullable", False),
                "read_only": p.get("readOnly", False),
                "description": p.get("description", ""),
            }
            for pname, p in (schema.get("properties") or {}).items()
        ]
        schemas.append({"name": name, "properties": props})
    security_schemes = (spec.get("components") or {}).get("securitySchemes") or {}
    return {
        "title": (spec.get("info") or {}).get("title", "API"),
        "version": (spec.get("info") or {}).get("version", ""),
        "operations": operations,
        "schemas": schemas,
        "security_schemes": security_schemes,
    }


@docs_bp.get("/api/v1/docs")
def api_docs():
    return render_template("accounts/api_docs.html", doc=docs_model(api.spec.to_dict()))
