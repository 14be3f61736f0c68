"""How the API's authentication reads in the OpenAPI schema (loaded by AccountsConfig.ready)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from drf_spectacular.plumbing import build_bearer_security_scheme_object


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.ApiTokenAuthentication"
    name = "tokenAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": 'An API token, sent as "Token <key>"',
        }


class JWTScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.authentication.JWTAuthentication"
    name = "jwtAuth"

    def get_security_definition(self, auto_schema):
        return build_bearer_security_scheme_object(
            header_name="Authorization", token_prefix="Bearer", bearer_format="JWT"
        )


def _resolve_now() -> None:
    # Loaded by AccountsConfig.ready: every process resolves drf-spectacular's extensions
    # before its first request, so no two requests race to (hpml_portal.api.schema).
    import drf_spectacular.openapi  # noqa: F401 (registers the extensions it ships)

    from hpml_portal.api.schema import resolve_extension_targets

    resolve_extension_targets()


_resolve_now()
