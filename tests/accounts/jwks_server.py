"""A tiny JWKS endpoint and signing keys, standing in for the identity service in tests.

No fixtures here: conftest and test modules build their own from these pieces.
"""

import json
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm


@dataclass(frozen=True)
class SigningKey:
    """A private key with its kid, as the identity service would hold it."""

    kid: str
    private_key: Any
    alg: str

    def public_jwk(self) -> dict[str, Any]:
        codec = RSAAlgorithm if self.alg.startswith(("RS", "PS")) else ECAlgorithm
        jwk = codec.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**jwk, "kid": self.kid, "alg": self.alg, "use": "sig"}

    def public_pem(self) -> str:
        return (
            self.private_key.public_key()
            .public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            .decode()
        )

    def sign(
        self, claims: dict[str, Any], alg: str | None = None, headers: dict[str, Any] | None = None
    ) -> str:
        """A token for ``claims`` under this key's kid; a header given as None is left out."""
        merged = {"kid": self.kid, **(headers or {})}
        headers = {name: value for name, value in merged.items() if value is not None}
        return jwt.encode(claims, self.private_key, algorithm=alg or self.alg, headers=headers)


def make_rsa_key(kid: str, alg: str = "RS256") -> SigningKey:
    return SigningKey(kid, rsa.generate_private_key(public_exponent=65537, key_size=2048), alg)


def make_ec_key(kid: str, alg: str = "ES256") -> SigningKey:
    return SigningKey(kid, ec.generate_private_key(ec.SECP256R1()), alg)


class JWKSServer:
    """Serves ``GET /jwks.json`` on 127.0.0.1 from a daemon thread; ``set_keys`` rotates the set
    and ``requests`` counts how often it was fetched."""

    def __init__(self, keys: list[dict[str, Any]] | None = None) -> None:
        self._keys = list(keys or [])
        self._lock = threading.Lock()
        self.requests = 0
        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.01,), daemon=True)
        self._thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}/jwks.json"

    def set_keys(self, keys: list[dict[str, Any]]) -> None:
        with self._lock:
            self._keys = list(keys)

    def close(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(timeout=5)

    def _body(self) -> bytes:
        with self._lock:
            self.requests += 1
            return json.dumps({"keys": self._keys}).encode()

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                if self.path != "/jwks.json":
                    self.send_error(404)
                    return
                body = server._body()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass  # keep test output clean

        return Handler
