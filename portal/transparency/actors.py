"""Who caused a log entry: its ``by`` member (docs/formats/entries.md), one rule for every app that appends.

An operator (a Django user), a CI token, or the portal itself. Lives with the log, below the apps that
append, so the registry and the log's own witness entries name their actors alike.
"""


def actor(token=None, user=None):
    if user is not None:
        return {"kind": "operator", "name": user.get_username()}
    if token is not None:
        return {"kind": "token", "name": token.name, "hint": token.hint}
    return {"kind": "system", "name": "vitrina"}
