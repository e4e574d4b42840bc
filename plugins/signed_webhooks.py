"""An example inbound webhook: shops and marketplaces POST records to
/hooks/<app>/<entity>, signed with HMAC-SHA256 of the body under APPLOOM_WEBHOOK_SECRET
(header X-AppLoom-Signature: sha256=<hex>). Records are created as the user named by
APPLOOM_WEBHOOK_USER, so that user's roles decide what a webhook may create. Unsigned or
wrongly signed calls get 401; an Idempotency-Key header makes a repeated delivery return
the first result."""

from flask import Blueprint, abort, jsonify, request

from apploom.plugin import hookimpl, runtime, signature_ok

hooks = Blueprint("signed_webhooks", __name__)


@hooks.post("/hooks/<app>/<entity>")
def receive(app: str, entity: str):
    rt = runtime()
    secret, username = rt.settings.webhook_secret, rt.settings.webhook_user
    if not secret or not username:
        abort(404)
    if not signature_ok(secret, request.get_data(), request.headers.get("X-AppLoom-Signature", "")):
        abort(401, "The signature does not match the body.")
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
