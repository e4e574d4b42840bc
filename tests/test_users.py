"""Users, passwords and tokens."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from sqlalchemy import select

from apploom.engine import clock
from apploom.engine.access import users as users_module
from apploom.engine.access.users import check_password, hash_password
from apploom.engine.definitions.loading import bundled_sources
from apploom.engine.errors import NotFound, ValidationFailed
from apploom.engine.storage.system_tables import sys_token, sys_user
from apploom.plugins import open_runtime
from apploom.web import create_app
from tests.helpers import browser, install


def test_passwords_are_salted_scrypt_hashes():
    one, two = hash_password("correct horse"), hash_password("correct horse")
    assert one != two and one.startswith("scrypt$")
    assert check_password(one, "correct horse")
    assert not check_password(one, "wrong horse")
    assert not check_password("garbage", "x") and not check_password(None, "x")


def test_authenticate_and_tokens_store_only_hashes(runtime):
    runtime.users.create("lily", ["sales"], "password1234", display_name="Lily")
    assert runtime.users.authenticate("lily", "password1234").roles == {"sales"}
    assert runtime.users.authenticate("lily", "nope") is None
    assert runtime.users.authenticate("ghost", "password1234") is None
    token = runtime.users.create_token("lily", "shop sync")
    assert runtime.users.for_token(token).username == "lily"
    assert runtime.users.for_token(token + "x") is None
    with runtime.db.read() as conn:
        stored = conn.execute(select(sys_token.c.token_hash)).scalar()
        password = conn.execute(select(sys_user.c.password_hash)).scalar()
    assert token not in stored and "password1234" not in password


def sign_in(app, username: str, password: str, address: str = "10.0.0.1"):
    client = app.test_client()
    client.get("/login", environ_base={"REMOTE_ADDR": address})
    with client.session_transaction() as session:
        csrf = session["csrf"]
    return client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": csrf},
        environ_base={"REMOTE_ADDR": address},
    )


def test_failed_sign_ins_lock_the_username_and_the_address_in_every_process(runtime):
    runtime.users.create("lily", ["sales"], "password1234")
    runtime.users.create("sue", ["sales"], "password1234")
    other = open_runtime(runtime.settings)  # another worker process on the same database
    one, two = create_app(runtime=runtime), create_app(runtime=other)
    for attempt in range(5):
        assert sign_in(one if attempt % 2 else two, "lily", "guess").status_code == 401
    locked = sign_in(two, "lily", "password1234")
    assert locked.status_code == 429 and 0 < int(locked.headers["Retry-After"]) <= 15 * 60
    assert "Too many failed sign-ins; try again in 15 min." in locked.get_data(as_text=True)
    assert sign_in(one, "lily", "password1234", address="10.0.0.2").status_code == 429
    assert sign_in(one, "sue", "password1234").status_code == 429  # the same address
    assert sign_in(one, "sue", "password1234", address="10.0.0.2").status_code == 303
    with clock.at(clock.now() + timedelta(minutes=16)):
        assert sign_in(one, "lily", "password1234").status_code == 303
    other.close()


def test_behind_a_trusted_proxy_each_client_is_counted_by_its_own_address(runtime, tmp_path):
    """Behind a proxy every client had the proxy's address: five failures anywhere
    locked everyone out. Without a trusted proxy, X-Forwarded-For is not believed (a
    client cannot name a fresh address for each guess)."""
    runtime.users.create("lily", ["sales"], "password1234")
    runtime.users.create("sue", ["sales"], "password1234")
    behind = open_runtime(replace(runtime.settings, trusted_proxies=1))
    proxied = create_app(runtime=behind)

    def from_client(app, client: str, username: str, password: str):
        forwarded = {"HTTP_X_FORWARDED_FOR": client}
        browser = app.test_client()
        browser.get("/login", environ_base={"REMOTE_ADDR": "127.0.0.1", **forwarded})
        with browser.session_transaction() as session:
            csrf = session["csrf"]
        return browser.post(
            "/login",
            data={"username": username, "password": password, "csrf_token": csrf},
            environ_base={"REMOTE_ADDR": "127.0.0.1", **forwarded},
        )

    for _ in range(5):
        assert from_client(proxied, "203.0.113.7", "lily", "guess").status_code == 401
    assert from_client(proxied, "198.51.100.2", "sue", "password1234").status_code == 303
    direct = create_app(runtime=runtime)
    for n in range(5):  # five names, each from "another" address: one address to us
        assert from_client(direct, f"203.0.113.{n}", f"user{n}", "guess").status_code == 401
    assert from_client(direct, "198.51.100.3", "sue", "password1234").status_code == 429
    behind.close()


def test_a_sign_in_clears_the_usernames_failures(runtime):
    runtime.users.create("lily", ["sales"], "password1234")
    for _ in range(4):
        assert runtime.users.authenticate("lily", "guess", "10.0.0.1") is None
    assert runtime.users.authenticate("lily", "password1234", "10.0.0.2")
    for _ in range(4):
        assert runtime.users.authenticate("lily", "guess", "10.0.0.2") is None
    assert runtime.users.authenticate("lily", "password1234", "10.0.0.3")


def test_wrong_api_tokens_lock_the_address(runtime):
    runtime.users.create("lily", ["sales"], "password1234")
    token = runtime.users.create_token("lily")
    client = create_app(runtime=runtime).test_client()

    def call(sent: str, address: str = "10.0.0.1"):
        return client.get(
            "/api/v1/",
            headers={"Authorization": f"Bearer {sent}"},
            environ_base={"REMOTE_ADDR": address},
        )

    for _ in range(5):
        assert call("alt_guess").status_code == 401
    locked = call(token)
    assert locked.status_code == 429 and locked.json["error"]["code"] == "too_many_attempts"
    assert int(locked.headers["Retry-After"]) > 0
    assert call(token, address="10.0.0.2").status_code == 200


def test_unknown_users_take_as_long_to_refuse_as_wrong_passwords(runtime, monkeypatch):
    checked = []

    def counting(stored, password):
        checked.append(stored)
        return check_password(stored, password)

    monkeypatch.setattr(users_module, "check_password", counting)
    runtime.users.create("lily", ["sales"], "password1234")
    runtime.users.create("sync", ["sales"])  # signs in with tokens only
    runtime.users.create("gone", ["sales"], "password1234")
    runtime.users.disable("gone")
    for username in ("lily", "ghost", "sync", "gone"):
        assert runtime.users.authenticate(username, "password1234x") is None
    assert len(checked) == 4 and len({h.rsplit("$", 2)[0] for h in checked}) == 1
    assert all(h.startswith("scrypt$16384$8$1$") for h in checked)


def test_passwords_need_at_least_12_characters(runtime):
    with pytest.raises(ValidationFailed) as refused:
        runtime.users.create("lily", ["sales"], "elevenchars")
    assert refused.value.fields == {"password": "must be at least 12 characters"}
    assert runtime.users.create("lily", ["sales"], "password1234").username == "lily"


def api_status(client, token: str):
    response = client.get("/api/v1/", headers={"Authorization": f"Bearer {token}"})
    return response.status_code, response.json


def test_tokens_expire_and_can_be_listed_and_revoked(runtime):
    runtime.users.create("lily", ["sales"], "password1234")
    short = runtime.users.create_token("lily", "shop sync", days=1)
    default = runtime.users.create_token("lily")
    client = create_app(runtime=runtime).test_client()
    assert api_status(client, short)[0] == 200
    listed = runtime.users.tokens("lily")
    assert [(t["username"], t["name"]) for t in listed] == [("lily", "shop sync"), ("lily", None)]
    assert listed[1]["expires_at"] - listed[1]["created_at"] == timedelta(days=90)
    assert listed[0]["last_used_at"] is not None and listed[1]["last_used_at"] is None
    assert not any(short in str(t) or default in str(t) for t in listed)
    with clock.at(clock.now() + timedelta(days=2)):
        status, body = api_status(client, short)
        assert status == 401 and "This API token expired on " in body["error"]["message"]
        assert api_status(client, default)[0] == 200
    runtime.users.revoke_token(listed[1]["id"])
    assert api_status(client, default)[0] == 401
    assert [t["id"] for t in runtime.users.tokens()] == [listed[0]["id"]]
    with pytest.raises(NotFound, match="There is no token"):
        runtime.users.revoke_token(listed[1]["id"])
    with pytest.raises(ValidationFailed, match="days"):
        runtime.users.create_token("lily", days=0)


def test_tokens_made_before_tokens_expired_last_90_days(runtime):
    runtime.users.create("lily", ["sales"], "password1234")
    token = runtime.users.create_token("lily")
    with runtime.db.write() as conn:  # the table as it was
        for column in ("expires_at", "last_used_at"):
            conn.exec_driver_sql(f"ALTER TABLE sys_token DROP COLUMN {column}")
    install(runtime.db, bundled_sources())  # what 'apploom init' does with a new release
    client = create_app(runtime=runtime).test_client()
    with clock.at(clock.now() + timedelta(days=89)):
        assert api_status(client, token)[0] == 200
    with clock.at(clock.now() + timedelta(days=91)):
        assert api_status(client, token)[0] == 401


def test_a_disabled_user_is_signed_out_and_their_tokens_refused_at_once(runtime):
    runtime.users.create("lily", ["sales"], "password1234")
    token = runtime.users.create_token("lily")
    app = create_app(runtime=runtime)
    signed_in, api = browser(app, "lily"), app.test_client()
    assert signed_in.get("/").status_code == 200
    runtime.users.disable("lily")
    assert signed_in.get("/").status_code == 302
    assert api_status(api, token)[0] == 401
    assert sign_in(app, "lily", "password1234").status_code == 401
    runtime.users.enable("lily")
    assert signed_in.get("/").status_code == 302  # that session stays ended
    assert api_status(api, token)[0] == 200
    assert sign_in(app, "lily", "password1234").status_code == 303
    with pytest.raises(NotFound, match="There is no user 'ghost'"):
        runtime.users.disable("ghost")


def test_a_new_password_signs_the_user_out_everywhere(runtime):
    runtime.users.create("lily", ["sales"], "password1234")
    signed_in = browser(create_app(runtime=runtime), "lily")
    with pytest.raises(ValidationFailed, match="password"):
        runtime.users.set_password("lily", "too-short")
    assert signed_in.get("/").status_code == 200
    for _ in range(5):  # locked out, as a forgotten password may leave one
        runtime.users.authenticate("lily", "guess")
    runtime.users.set_password("lily", "a-longer-passphrase")
    assert signed_in.get("/").status_code == 302
    assert runtime.users.authenticate("lily", "a-longer-passphrase").username == "lily"
    assert runtime.users.authenticate("lily", "password1234") is None
