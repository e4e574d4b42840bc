"""An example carrier: 'books' a shipment and gives it a tracking number, with no network.

Numbers follow a real scheme: the carrier's prefix, the record's id padded to ten
digits, and a Luhn check digit, so a typo in a number is caught. Use it in a rule:

    - name: book
      on: {transition: ship}
      do:
        - book_shipment: {}          # or {carrier: sf}
"""

from apploom.plugin import hookimpl, msg

PREFIXES = {"sf": "SF", "zto": "ZT", "yto": "YT", "jd": "JD", "ems": "EM"}


def luhn_digit(digits: str) -> str:
    total = 0
    for i, digit in enumerate(reversed(digits)):
        value = int(digit) * (2 if i % 2 == 0 else 1)
        total += value - 9 if value > 9 else value
    return str((10 - total % 10) % 10)


def tracking_number(carrier: str, record_id: int) -> str:
    body = f"{record_id:010d}"
    return PREFIXES[carrier] + body + luhn_digit(body)


def book_shipment(context, params):
    """Book with the carrier the rule names, else the record's own, else SF; a tracking
    number typed in by hand is kept."""
    record = context.names["record"]
    if record.get("tracking_number"):
        return msg("kept tracking number {number}", number=record["tracking_number"])
    carrier = params.get("carrier") or record.get("carrier") or "sf"
    number = tracking_number(carrier, context.record_id)
    context.force(
        context.entity.qualified, context.record_id, {"carrier": carrier, "tracking_number": number}
    )
    return msg(
        "booked with {carrier}: {number}",
        carrier=context.entity.fields["carrier"].option_label(carrier),
        number=number,
    )


@hookimpl
def apploom_actions():
    return {"book_shipment": book_shipment}


@hookimpl
def apploom_functions():
    return {"tracking_number": tracking_number}
