"""Bearer-token authentication for CI, with tokens scoped to one project.

Only the token's SHA-256 is stored (``ApiToken.authenticate``). The registration endpoints accept
nothing else: no session cookie, no password. That is also why they are exempt from CSRF checks by
design: CSRF abuses credentials a browser attaches on its own (cookies), and a bearer token is never
attached on its own. DRF's ``SessionAuthentication`` is deliberately not enabled anywhere in the API;
enabling it would make the POST endpoints reachable with a cookie and so would need CSRF again.
"""

from django.contrib.auth.models import AnonymousUser
from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions, permissions

from portal.registry.models import ApiToken

# Longer than any token we issue; a longer header is refused before it is hashed.
MAX_TOKEN_LENGTH = 200


class BearerTokenAuthentication(authentication.BaseAuthentication):
    """``Authorization: Bearer <token>``; sets ``request.auth`` to the ``ApiToken``."""

    keyword = "Bearer"

    def authenticate(self, request):
        header = authentication.get_authorization_header(request).split()
        if not header or header[0].lower() != self.keyword.lower().encode():
            return None
        if len(header) != 2:
            raise exceptions.AuthenticationFailed("The Authorization header must be 'Bearer <token>'.")
        try:
            raw = header[1].decode("ascii")
        except UnicodeDecodeError as exc:
            raise exceptions.AuthenticationFailed("The token is not valid.") from exc
        token = ApiToken.authenticate(raw) if len(raw) <= MAX_TOKEN_LENGTH else None
        if token is None:
            raise exceptions.AuthenticationFailed("The token is not valid or has been revoked.")
        return AnonymousUser(), token

    def authenticate_header(self, request):
        return self.keyword


class HasProjectToken(permissions.BasePermission):
    """Lets in a request carrying a valid project token; which project it may touch is checked later."""

    message = "This endpoint needs a project token: send 'Authorization: Bearer <token>'."

    def has_permission(self, request, view):
        return isinstance(request.auth, ApiToken)


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "projectToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token scoped to one project, from the admin or `manage.py createtoken`.",
        }
