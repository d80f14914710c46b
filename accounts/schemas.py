"""Marshmallow schemas of the accounts API."""

from __future__ import annotations

from marshmallow import Schema, fields


class OrganizationSchema(Schema):
    id = fields.Int(dump_only=True)
    name_zh = fields.Str(dump_only=True)
    name_en = fields.Str(dump_only=True)
    uscc = fields.Str(dump_only=True, metadata={"description": "Unified social credit code (18 characters)"})
    kinds = fields.List(fields.Str(), dump_only=True)
    verification = fields.Str(dump_only=True, metadata={"description": "pending, verified or rejected"})


class UserSchema(Schema):
    id = fields.Int(dump_only=True)
    email = fields.Str(dump_only=True)
    display_name = fields.Str(dump_only=True)
    locale = fields.Str(dump_only=True)
    two_factor_enabled = fields.Bool(dump_only=True)


class MeSchema(Schema):
    user = fields.Nested(UserSchema, dump_only=True)
    organization = fields.Nested(OrganizationSchema, dump_only=True, allow_none=True)
    roles = fields.List(fields.Str(), dump_only=True, metadata={"description": "Roles in the current organization"})
    auth = fields.Str(dump_only=True, metadata={"description": "token or session"})


class ApiTokenSchema(Schema):
    id = fields.Int(dump_only=True)
    name = fields.Str(dump_only=True)
    org_id = fields.Int(dump_only=True)
    prefix = fields.Str(dump_only=True, metadata={"description": "First characters of the token, to tell tokens apart"})
    created_at = fields.DateTime(dump_only=True)
    last_used_at = fields.DateTime(dump_only=True, allow_none=True)
    expires_at = fields.DateTime(dump_only=True, allow_none=True)
    revoked_at = fields.DateTime(dump_only=True, allow_none=True)
    status = fields.Str(dump_only=True, metadata={"description": "active, expired or revoked"})


class ApiErrorBodySchema(Schema):
    code = fields.Str()
    message = fields.Str()
    field_errors = fields.Dict(keys=fields.Str(), values=fields.List(fields.Str()), data_key="fields")


class ApiErrorSchema(Schema):
    error = fields.Nested(ApiErrorBodySchema)
