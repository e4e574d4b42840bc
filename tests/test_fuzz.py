"""Schemathesis over the OpenAPI document, against the app on a small shop: no request
gets a server error, every answer matches the document, requests the document forbids
are refused and the ones it allows are taken, but for the business refusals below."""

from __future__ import annotations

import re

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import Failure, FailureGroup
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from apploom.engine.access.permissions import SYSTEM_USER
from apploom.engine.records.conditions import field_conditions
from apploom.web import create_app
from tests.helpers import Shop, make_runtime, settled

EXAMPLES = 5  # per operation and mode (valid, invalid): the gate stays well under a minute
CHECKS = [
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    negative_data_rejection,
]

# Valid requests may still be refused for what no schema can say: a refusal passes when
# each of its field messages (or its message) is one of these, for its status and code.
REFUSALS = [
    # A ref, a path id or an attachment names one that does not exist (random ids don't).
    (422, "validation_failed", r"there is no .+ with id \w+"),
    (404, "not_found", r".*"),
    # A page's cursor ('after') is one a page gave: a made-up one names no row.
    (400, "bad_query", r"pass the 'next' of the page before, with the same sort"),
    # The record's state refuses the write: "cannot change while Shipped", a record
    # others still refer to, a version read earlier (409; 412 as If-Match).
    (409, "conflict", r".*"),
    (412, "conflict", r".*"),
    # Imports read the file by its name's ending, which a multipart schema cannot name.
    (422, "validation_failed", r"must be a \.csv or \.xlsx file"),
    # A transition asks for fields the record lacks.
    (422, "validation_failed", r"is needed to take '.+'"),
    # Cases draw their Idempotency-Key from a few strings: a key sent again with another
    # body, or to another collection, is refused rather than answered with the first record.
    (422, "validation_failed", r"was already used to create .+"),
    # An option only the app's rules record (a stock move's 'release'): answers hold it,
    # so the record's schema lists it, but people may not choose it.
    (422, "validation_failed", r"'.+' is recorded by the app's rules only; choose one of: .+"),
    # A formula's result (a line's qty x price) past what a money field holds, or below
    # its min: a discount larger than the line or the order it comes off.
    (422, "validation_failed", r"could not be computed: is too large"),
    (422, "validation_failed", r"must be at least 0"),
    # A unique field's value another record holds.
    (422, "validation_failed", r"is already used by another .+"),
    # The apps' own rules (a ship date before the order date, stock to reserve).
    (422, "rule_failed", r".*"),
    # A channel's hook: no generated call carries the platform's signature.
    (401, "unauthenticated", r"This channel has no secret yet: .+"),
]


# Conditional fields (required_if, readonly_if): the document says so in words only, so a
# valid request may leave one empty, or change one, while its condition holds.
CONDITIONAL = (422, "validation_failed", {"is required", "cannot be changed now"})


def refusal_allowed(status: int, body: object, conditioned: frozenset[str] = frozenset()) -> bool:
    """Whether a valid request's 4xx is one of REFUSALS, or a conditional field's refusal
    (``conditioned``: the names of the fields under a condition)."""
    error = body.get("error", {}) if isinstance(body, dict) else {}
    fields = error.get("fields") or {}
    patterns = [p for s, code, p in REFUSALS if (s, code) == (status, error.get("code"))]

    def allowed(key: str, message: str) -> bool:
        if any(re.fullmatch(p, message, re.S) for p in patterns):
            return True
        status_code, code, messages = CONDITIONAL
        return (
            (status, error.get("code")) == (status_code, code)
            and message in messages
            and key.rsplit(".", 1)[-1] in conditioned
        )

    if fields:
        return all(allowed(key, message) for key, message in fields.items())
    return bool(patterns) and allowed("", error.get("message", ""))


def blank_for_null(case, problems: list[str]) -> bool:
    """Whether the invalid data accepted is only "" for a field that may be empty: a
    blank is taken as no value (a form sends one for every empty input)."""
    fields = [re.search(r"violates `format` at /properties/(\w+)\)", p) for p in problems]
    return all(f and isinstance(case.body, dict) and case.body.get(f[1]) == "" for f in fields)


def by_server(document: dict) -> list[dict]:
    """The document, and a document per path that has servers of its own (the channels'
    hooks, outside /api/v1): Schemathesis calls every path under the top servers."""
    own = {p: item for p, item in document["paths"].items() if "servers" in item}
    rest = {p: item for p, item in document["paths"].items() if p not in own}
    return [{**document, "paths": rest}] + [
        {**document, "servers": item["servers"], "paths": {path: item}}
        for path, item in own.items()
    ]


def test_every_operation_survives_generated_requests(tmp_path):
    """Valid and invalid requests, derandomized, as an admin (every operation is open)."""
    rt = make_runtime(
        f"sqlite:///{tmp_path / 'fuzz.db'}",
        tmp_path / "instance",
        # Every case comes from one address: a refused token must not lock out the rest.
        sign_in_attempts=1_000_000,
        webhook_user="root",  # the channels' hooks answer (and refuse unsigned calls)
    )
    shop = Shop(rt)
    for _ in range(3):
        rt.records.create(SYSTEM_USER, "oms.order", shop.order())
    root = rt.users.create("root", ["admin"], "password1234")
    headers = {"Authorization": f"Bearer {rt.users.create_token('root')}"}
    job = rt.bulk.start(root, "oms.order", "confirm", [1, 2])
    app = create_app(runtime=rt)
    conditioned = frozenset(name for e in rt.apps.entities() for name in field_conditions(e))
    # Without its security requirement: every case is sent with the admin's token, and a
    # case whose invalid part was a missing token would then be valid as sent (the 401s
    # have tests of their own).
    document = app.test_client().get("/api/v1/openapi.json").json
    del document["security"]
    schemas = [schemathesis.openapi.from_dict(part) for part in by_server(document)]
    for each in schemas:
        each.app = app
    schema = schemas[0]
    found: list[str] = []
    cases = operations = 0
    for result in (r for each in schemas for r in each.get_all_operations()):
        operation = result.ok()
        operations += 1
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):

            @given(case=operation.as_strategy(generation_mode=mode))
            @settings(
                max_examples=EXAMPLES,
                derandomize=True,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case):
                nonlocal cases
                cases += 1
                response = case.call(headers=headers)
                problems = []
                try:
                    case.validate_response(response, checks=CHECKS, headers=headers)
                except FailureGroup as group:
                    problems += [f"{f.title} ({f.message})" for f in group.exceptions]
                except Failure as failure:
                    problems.append(f"{failure.title} ({failure.message})")
                status = response.status_code
                if status < 300 and blank_for_null(case, problems):
                    problems = []
                generated = case.meta.generation.mode
                if generated.is_positive and 400 <= status < 500:
                    if not refusal_allowed(status, response.json(), conditioned):
                        problems.append("valid request refused")
                for problem in problems:
                    found.append(
                        f"{case.operation.label} [{generated.value}] {status} {problem}: "
                        f"{response.text[:300]} <- {case.formatted_path} {case.query} "
                        f"{str(case.body)[:300]}"
                    )

            try:
                run()
            except Unsatisfiable:
                # No parameter and no body (the index): no request to it is invalid.
                assert mode is GenerationMode.NEGATIVE, operation.label
    # A job to read, which random ids never name: its answer must match the document too.
    reading = schema.find_operation_by_id("get_job").Case(path_parameters={"job_id": job["id"]})
    reading.call_and_validate(headers=headers, checks=CHECKS)
    settled(rt)  # the jobs the cases queued end before their database goes
    rt.close()
    print(f"{operations} operations, {cases} cases, {len(found)} failures")
    assert not found, "\n".join(found)
