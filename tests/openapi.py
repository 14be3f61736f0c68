"""The API's OpenAPI schema as a dict, for tests that read what it promises."""

from functools import cache


@cache
def openapi() -> dict:
    from drf_spectacular.generators import SchemaGenerator

    return SchemaGenerator().get_schema(request=None, public=True)


def operation(path: str, method: str) -> dict:
    return openapi()["paths"][path][method.lower()]


def component(name: str) -> dict:
    return openapi()["components"]["schemas"][name]


def parameter(path: str, method: str, name: str) -> dict:
    return next(p for p in operation(path, method)["parameters"] if p["name"] == name)


def request_schema(path: str, method: str, media: str = "application/json") -> dict:
    """The request body's schema, its components' references followed."""
    schema = operation(path, method)["requestBody"]["content"][media]["schema"]
    return resolve(schema)


def resolve(schema: dict) -> dict:
    if "$ref" in schema:
        return resolve(component(schema["$ref"].rsplit("/", 1)[-1]))
    if "oneOf" in schema:
        return {**schema, "oneOf": [resolve(s) for s in schema["oneOf"]]}
    return schema
