"""The apploom command."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from importlib.metadata import version

import pytest
from click.testing import CliRunner

from apploom.cli import main
from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.definitions.loading import bundled_apps_dir
from apploom.engine.settings import Settings
from apploom.plugins import open_runtime


@pytest.fixture
def cli(tmp_path, monkeypatch):
    monkeypatch.delenv("DATABASE_URL", raising=False)
    runner = CliRunner()

    def run(*args, input=None):
        return runner.invoke(
            main,
            ["--instance", str(tmp_path / "instance"), *args],
            input=input,
            catch_exceptions=False,
        )

    return run


def test_validate_accepts_the_bundled_apps(cli):
    result = cli("apps", "validate", *(str(p) for p in sorted(bundled_apps_dir().iterdir())))
    assert result.exit_code == 0 and "OK: 3 file(s) valid" in result.output


def test_validate_prints_every_problem_and_fails(cli, tmp_path):
    broken = tmp_path / "shop.yaml"
    broken.write_text(
        "app: shop\nentities:\n  order:\n    fields:\n      qty: {type: integr}\n"
        "      who: {type: ref, to: crm.client}\n"
    )
    result = cli("apps", "validate", str(broken))
    assert result.exit_code == 1
    assert (
        "shop.yaml:5: entities.order.fields.qty.type: 'integr' is not a field type" in result.output
    )


def test_validate_missing_file_fails_clearly(cli, tmp_path):
    result = cli("apps", "validate", str(tmp_path / "nope.yaml"))
    assert result.exit_code == 1 and "cannot be read" in result.output


def test_init_demo_users_tokens_and_apply(cli, tmp_path):
    first = cli("init", "--demo", "--demo-orders", "30")
    assert first.exit_code == 0, first.output
    assert "Installed oms" in first.output and "admin / apploom-demo" in first.output
    again = cli("init", "--demo")
    assert "Installed" not in again.output and "Loaded demo data" not in again.output
    assert "Demo admin" in again.output
    listed = cli("apps", "list")
    assert "oms" in listed.output and "order" in listed.output
    created = cli("users", "create", "lily", "--role", "sales", input="s3cret-passw0rd\n" * 2)
    assert created.exit_code == 0 and "Created user lily" in created.output
    token = cli("token", "create", "lily")
    assert token.exit_code == 0 and token.output.startswith("alt_")
    assert token.output.strip() not in (tmp_path / "instance" / "apploom.db").read_bytes().decode(
        "latin-1"
    )
    dry = cli("apps", "apply", "--dry-run")
    assert "(no schema change)" in dry.output and "Dry run" in dry.output


def test_user_errors_are_clear(cli):
    cli("init")
    bad = cli("users", "create", "Bad Name", "--role", "wizard", "--password", "x")
    assert bad.exit_code == 1
    assert "username:" in bad.output and "unknown role wizard" in bad.output
    assert "password: must be at least 12" in bad.output
    missing = cli("token", "create", "ghost")
    assert missing.exit_code == 1 and "There is no user 'ghost'" in missing.output


def test_users_are_disabled_enabled_and_given_new_passwords(cli, tmp_path):
    cli("init")
    cli("users", "create", "lily", "--role", "sales", "--password", "password1234")
    runtime = open_runtime(Settings.load({"instance_path": str(tmp_path / "instance")}, environ={}))
    assert cli("users", "disable", "lily").exit_code == 0
    assert runtime.users.authenticate("lily", "password1234") is None
    assert cli("users", "enable", "lily").output == "Enabled lily.\n"
    prompted = cli("users", "password", "lily", input="new-passphrase-1\nnew-passphrase-1\n")
    assert prompted.exit_code == 0 and "signed out everywhere" in prompted.output
    assert runtime.users.authenticate("lily", "new-passphrase-1").username == "lily"
    piped = cli("users", "password", "lily", "--password-stdin", input="piped-passphrase\n")
    assert piped.exit_code == 0 and "New password" not in piped.output
    assert runtime.users.authenticate("lily", "piped-passphrase").username == "lily"
    short = cli("users", "password", "lily", "--password-stdin", input="short\n")
    assert short.exit_code == 1 and "password: must be at least 12 characters" in short.output
    missing = cli("users", "disable", "ghost")
    assert missing.exit_code == 1 and "There is no user 'ghost'" in missing.output
    runtime.close()


def test_tokens_are_listed_with_their_expiry_and_revoked(cli):
    cli("init")
    cli("users", "create", "lily", "--role", "sales", "--password", "password1234")
    cli("users", "create", "sue", "--role", "sales", "--password", "password1234")
    token = cli("token", "create", "lily", "--name", "shop sync", "--days", "7").output.strip()
    cli("token", "create", "sue")
    listed = cli("token", "list", "lily")
    assert listed.exit_code == 0 and token not in listed.output
    (line,) = listed.output.splitlines()
    today = datetime.now(timezone.utc)
    assert "lily" in line and "shop sync" in line and "last used never" in line
    assert f"expires {today + timedelta(days=7):%Y-%m-%d}" in line
    everyone = cli("token", "list").output
    assert "sue" in everyone and f"expires {today + timedelta(days=90):%Y-%m-%d}" in everyone
    assert cli("token", "create", "lily", "--days", "0").exit_code == 2
    token_id = line.split()[0]
    assert cli("token", "revoke", token_id).output == f"Revoked token {token_id}.\n"
    assert cli("token", "list", "lily").output == "No tokens.\n"
    again = cli("token", "revoke", token_id)
    assert again.exit_code == 1 and f"There is no token {token_id}" in again.output


def test_serve_refuses_a_short_secret_key(cli, monkeypatch):
    cli("init")
    monkeypatch.setenv("APPLOOM_SECRET_KEY", "x")
    refused = cli("serve", "--port", "0", "--no-deliver")
    assert refused.exit_code == 1
    assert "APPLOOM_SECRET_KEY is too short (1 characters; at least 32)" in refused.output


def test_history_diff_export_and_rollback_keep_the_data(cli, tmp_path):
    cli("init")
    crm = (bundled_apps_dir() / "crm.yaml").read_text()
    changed = tmp_path / "crm.yaml"
    changed.write_text(
        crm.replace(
            "      city:     {type: text, label: {en: City, zh: 城市}, length: 60}\n",
            "      city:     {type: text, label: {en: City, zh: 城市}, length: 60}\n"
            "      vip_note: {type: text, label: {en: VIP note, zh: 贵宾备注}}\n",
        )
    )
    assert (
        "add column crm_customer.vip_note"
        in cli("apps", "apply", str(changed), "--comment", "vip notes").output
    )
    settings = Settings.load({"instance_path": str(tmp_path / "instance")}, environ={})
    runtime = open_runtime(settings)
    kept = runtime.records.create(SYSTEM_USER, "crm.customer", {"name": "A", "vip_note": "x"})
    runtime.close()

    history = cli("apps", "history", "crm").output.splitlines()
    assert len(history) == 2 and history[1].startswith("* crm") and "vip notes" in history[1]
    diff = cli("apps", "diff", "crm", "1").output
    assert "+      vip_note: {type: text" in diff and diff.startswith("--- crm v1")
    assert cli("apps", "export", "crm", "--version", "1").output == crm
    assert cli("apps", "export", "crm", "--version", "9").exit_code == 1

    dry = cli("apps", "rollback", "crm", "1", "--dry-run").output
    assert "archive" in dry and "Dry run" in dry
    assert "Applied crm as version 3" in cli("apps", "rollback", "crm", "1").output
    assert "Applied crm as version 4" in cli("apps", "rollback", "crm", "2").output
    runtime = open_runtime(settings)
    assert runtime.records.get(SYSTEM_USER, "crm.customer", kept["id"])["vip_note"] == "x"
    runtime.close()


def test_apply_asks_about_existing_data_and_takes_the_answers(cli, tmp_path):
    cli("init")
    desk = tmp_path / "desk.yaml"
    desk.write_text(
        "app: desk\nroles: [agent]\npermissions: {agent: all}\nentities:\n"
        "  ticket:\n    fields: {subject: {type: text}}\n"
    )
    cli("apps", "apply", str(desk))
    settings = Settings.load({"instance_path": str(tmp_path / "instance")}, environ={})
    runtime = open_runtime(settings)
    runtime.records.create(SYSTEM_USER, "desk.ticket", {})  # no subject yet
    runtime.close()
    desk.write_text(desk.read_text().replace("{type: text}", "{type: text, required: true}"))
    refused = cli("apps", "apply", str(desk))
    assert (
        refused.exit_code == 1
        and "1 desk.ticket record(s) have no value for 'subject'" in refused.output
    )
    assert "? 1 desk.ticket record(s)" in cli("apps", "apply", str(desk), "--dry-run").output
    done = cli("apps", "apply", str(desk), "--fill", "desk.ticket:subject=untitled")
    assert done.exit_code == 0 and "Applied desk as version 2" in done.output
    bad = cli("apps", "apply", str(desk), "--fill", "nonsense")
    assert bad.exit_code == 2 and "APP.ENTITY:NAME=VALUE" in bad.output


def test_version_comes_from_the_package_metadata(cli):
    result = cli("--version")
    assert result.exit_code == 0 and result.output == f"apploom, version {version('apploom')}\n"


def test_channel_secrets_are_set_without_being_shown(cli, tmp_path):
    assert cli("init").exit_code == 0
    done = cli("channels", "secret", "shopify", "shpss_s3cret")
    assert done.exit_code == 0 and "shpss_s3cret" not in done.output
    assert (
        cli("channels", "secret", "shopify", "shpat_t0ken", "--name", "access_token").exit_code == 0
    )
    unknown = cli("channels", "secret", "ebay", "x")
    assert unknown.exit_code == 1 and "There is no sales channel 'ebay'" in unknown.output
    rt = open_runtime(Settings.load({"instance_path": str(tmp_path / "instance")}, environ={}))
    try:
        assert rt.channel_secrets.get("shopify") == "shpss_s3cret"
        assert rt.channel_secrets.names("shopify") == ["access_token", "signing"]
    finally:
        rt.close()
