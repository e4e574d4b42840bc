"""A client generated from the OpenAPI document, used against a live server: what a
customer of the API gets from `openapi-python-client generate`."""

from __future__ import annotations

import importlib
import io
import json
import subprocess
import sys
import time

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.web import create_app
from tests.helpers import Shop, make_runtime, serving

PACKAGE = "apploom_client"


def generate(document: dict, tmp_path) -> str:
    """Generate the client into ``tmp_path``; returns what the generator printed."""
    (tmp_path / "openapi.json").write_text(json.dumps(document), encoding="utf-8")
    (tmp_path / "config.yaml").write_text(
        f"post_hooks: []\nproject_name_override: {PACKAGE}\npackage_name_override: {PACKAGE}\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "openapi_python_client", "generate", "--meta", "none"]
        + ["--path", str(tmp_path / "openapi.json"), "--config", str(tmp_path / "config.yaml")]
        + ["--output-path", str(tmp_path / PACKAGE)],
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout + done.stderr


def test_a_generated_client_lists_creates_patches_and_transitions(tmp_path, monkeypatch):
    rt = make_runtime(f"sqlite:///{tmp_path / 'client.db'}", tmp_path / "instance")
    shop = Shop(rt)
    order = rt.records.create(SYSTEM_USER, "oms.order", shop.order())
    rt.users.create("ada", ["admin"], "password1234")
    token = rt.users.create_token("ada")
    document = create_app(runtime=rt).test_client().get("/api/v1/openapi.json").json
    output = generate(document, tmp_path)
    # Every schema became a model; only downloads (a file's or a printed PDF's bytes) are
    # left to the caller.
    assert "Unable to process schema" not in output, output
    unparsed = [b for b in output.split("WARNING parsing ")[1:] if "Cannot parse response" in b]
    assert unparsed and all('"format": "binary"' in block for block in unparsed), output
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in [m for m in sys.modules if m.startswith(PACKAGE)]:
        monkeypatch.delitem(sys.modules, name)

    def api(path: str):
        return importlib.import_module(f"{PACKAGE}.api.{path}")

    models = importlib.import_module(f"{PACKAGE}.models")
    File = importlib.import_module(f"{PACKAGE}.types").File
    with serving(rt) as url:
        client = importlib.import_module(PACKAGE).AuthenticatedClient(
            base_url=url + "/api/v1", token=token, raise_on_unexpected_status=True
        )
        page = api("oms.list_oms_order").sync(client=client, limit=10)
        assert page.total == 1 and page.data[0].number == order["number"]

        created = api("crm.create_crm_customer").sync(
            client=client,
            body=models.Customer(name="Li Lei", email="li@example.com", city="Beijing"),
        )
        assert isinstance(created, models.Customer), created
        changed = api("crm.update_crm_customer").sync(
            id=created.id, client=client, body=models.ChangesToACustomer(version=1, city="Xi'an")
        )
        assert isinstance(changed, models.Customer), changed
        assert changed.city == "Xi'an" and changed.version == 2
        before, after = created.to_dict(), changed.to_dict()
        for name in ("city", "version", "updated_at"):
            before.pop(name), after.pop(name)
        assert after == before  # a PATCH of one field leaves the others as they were

        confirmed = api("oms.transition_oms_order_confirm").sync(id=order["id"], client=client)
        assert isinstance(confirmed, models.SalesOrder), confirmed
        assert confirmed.status == "confirmed"

        def finished(job):
            """The job polled until it ends, as the client reads it."""
            deadline = time.monotonic() + 60
            while job.status in (models.JobStatus.QUEUED, models.JobStatus.RUNNING):
                assert time.monotonic() < deadline, job
                time.sleep(0.05)
                job = api("default.get_job").sync(job_id=job.id, client=client)
            assert isinstance(job, models.Job), job
            return job

        csv = "External order id,Customer › Email,Items › Item › SKU,Items › Quantity\n"
        imported = api("oms.import_oms_order").sync(
            client=client,
            body=models.ImportOmsOrderBody(
                file=File(
                    payload=io.BytesIO(f"{csv}TB-1,zs@example.com,CUP-1,2\n".encode()),
                    file_name="orders.csv",
                ),
                then=models.ImportOmsOrderBodyThen.CONFIRM,
            ),
        )
        assert isinstance(imported, models.Job), imported
        report = finished(imported).outcome
        assert isinstance(report, models.ImportReport) and report.created == 1, report
        new = api("oms.list_oms_order").sync(client=client, sort="-id", limit=1).data[0]

        picking = api("oms.bulk_transition_oms_order_pick").sync(
            client=client,
            body=models.BulkTransitionOmsOrderPickBody(ids=[order["id"], new.id, 999]),
        )
        assert isinstance(picking, models.Job), picking
        outcome = finished(picking).outcome
        assert isinstance(outcome, models.BulkTransitionOutcome), outcome
        assert outcome.taken == [order["id"], new.id]
        assert [r.id for r in outcome.refused] == [999]
        listed = api("default.list_jobs").sync(client=client)
        assert [job.id for job in listed.data] == [picking.id, imported.id]
    rt.close()
