"""An example inbound webhook: shops and marketplaces POST records to
/hooks/<app>/<entity>, signed under APPLOOM_WEBHOOK_SECRET with the call's time, path and
body (header X-AppLoom-Signature: t=<unix time>,v1=<hex>, see
apploom/engine/access/signatures.py). Records are created as the user named by
APPLOOM_WEBHOOK_USER, so that user's roles decide what a webhook may create. Unsigned,
wrongly signed, stale or replayed calls get 401; an Idempotency-Key header makes a
delivery signed anew return the first result."""

from flask import Blueprint, abort, jsonify, request

from apploom.plugin import hookimpl, require_signed_call, runtime

hooks = Blueprint("signed_webhooks", __name__)


@hooks.post("/hooks/<app>/<entity>")
def receive(app: str, entity: str):
    rt = runtime()
    secret, username = rt.settings.webhook_secret, rt.settings.webhook_user
    if not secret or not username:
        abort(404)
    require_signed_call(secret)
    data = request.get_json(silent=True)
    record = rt.records.create(
        rt.users.get(username),
        f"{app}.{entity}",
        data,
        idempotency_key=request.headers.get("Idempotency-Key"),
    )
    return jsonify(record), 201


@hookimpl
def apploom_routes(app):
    app.register_blueprint(hooks)
