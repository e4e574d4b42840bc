"""Users, passwords and tokens."""

from __future__ import annotations

from sqlalchemy import select

from apploom.engine.access.users import check_password, hash_password
from apploom.engine.storage.system_tables import sys_token, sys_user


def test_passwords_are_salted_scrypt_hashes():
    one, two = hash_password("correct horse"), hash_password("correct horse")
    assert one != two and one.startswith("scrypt$")
    assert check_password(one, "correct horse")
    assert not check_password(one, "wrong horse")
    assert not check_password("garbage", "x") and not check_password(None, "x")


def test_authenticate_and_tokens_store_only_hashes(runtime):
    runtime.users.create("lily", ["sales"], "password123", display_name="Lily")
    assert runtime.users.authenticate("lily", "password123").roles == {"sales"}
    assert runtime.users.authenticate("lily", "nope") is None
    assert runtime.users.authenticate("ghost", "password123") is None
    token = runtime.users.create_token("lily", "shop sync")
    assert runtime.users.for_token(token).username == "lily"
    assert runtime.users.for_token(token + "x") is None
    with runtime.db.read() as conn:
        stored = conn.execute(select(sys_token.c.token_hash)).scalar()
        password = conn.execute(select(sys_user.c.password_hash)).scalar()
    assert token not in stored and "password123" not in password
