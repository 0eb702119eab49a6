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

from portal.registry import services
from portal.registry.models import ApiToken, Observer, Rebuilder

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
        token = self.find(raw) if len(raw) <= MAX_TOKEN_LENGTH else None
        if token is None:
            raise exceptions.AuthenticationFailed(self.invalid)
        return AnonymousUser(), token

    invalid = "The token is not valid or has been revoked."

    def find(self, raw):
        return ApiToken.authenticate(raw)

    def authenticate_header(self, request):
        return self.keyword


class PartyTokenAuthentication(BearerTokenAuthentication):
    """``Authorization: Bearer <prefix>…``, the token of an independent party of ``party_model``'s kind
    (``services.authenticate_party``); sets ``request.auth`` to the party. A project token is not valid
    here, nor another kind of party's, as a party's token is not valid for CI's endpoints."""

    party_model = None

    @property
    def invalid(self):
        kind = services.party_kind(self.party_model)
        return f"The token is not a valid {kind} token, or its {kind} was removed."

    def find(self, raw):
        return services.authenticate_party(self.party_model, raw)


class ObserverTokenAuthentication(PartyTokenAuthentication):
    """``Authorization: Bearer vto_…``, an independent observer's token."""

    party_model = Observer


class RebuilderTokenAuthentication(PartyTokenAuthentication):
    """``Authorization: Bearer vtb_…``, an independent rebuilder's token."""

    party_model = Rebuilder


class HasProjectToken(permissions.BasePermission):
    """Lets in a request carrying a valid project token; which project it may touch is checked later."""

    message = "This endpoint needs a project token: send 'Authorization: Bearer <token>'."

    def has_permission(self, request, view):
        return isinstance(request.auth, ApiToken)


class HasPartyToken(permissions.BasePermission):
    """Lets in a request carrying the token of a ``party_model`` party registered and not removed."""

    party_model = None

    def has_permission(self, request, view):
        return isinstance(request.auth, self.party_model)


class HasObserverToken(HasPartyToken):
    party_model = Observer
    message = "This endpoint needs an observer token: send 'Authorization: Bearer vto_…'."


class HasRebuilderToken(HasPartyToken):
    party_model = Rebuilder
    message = "This endpoint needs a rebuilder token: send 'Authorization: Bearer vtb_…'."


class ObserverTokenScheme(OpenApiAuthenticationExtension):
    target_class = ObserverTokenAuthentication
    name = "observerToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An independent observer's token (vto_…), from `manage.py addobserver` or the "
            "admin.",
        }


class RebuilderTokenScheme(OpenApiAuthenticationExtension):
    target_class = RebuilderTokenAuthentication
    name = "rebuilderToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An independent rebuilder's token (vtb_…), from `manage.py addrebuilder` or the "
            "admin.",
        }


class BearerTokenScheme(OpenApiAuthenticationExtension):
    target_class = BearerTokenAuthentication
    name = "projectToken"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "A token scoped to one project, from the admin or `manage.py createtoken`.",
        }
