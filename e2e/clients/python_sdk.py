#!/usr/bin/python3
"""Drives Debian's python3-sentry-sdk (1.9.10) against FAULTLINE_DSN.

It posts events to the /store/ endpoint, gzip-compressed, with X-Sentry-Auth.
Run it with /usr/bin/python3, because other python3 builds may lack the module.
See README.md.
"""
import json
import os
import sys

import sentry_sdk
from sentry_sdk.transport import HttpTransport


class PaymentError(Exception):
    pass


def parse_config(raw):
    if not isinstance(raw.get("port"), int):
        raise TypeError("invalid config: port must be a number")


def charge_card(cents):
    raise PaymentError("card declined: insufficient funds")


def compute_index(i, length):
    if i >= length:
        raise IndexError("index out of range")


FAILURES = []


class RecordingTransport(HttpTransport):
    """The real HTTP transport; it calls this hook when a request fails
    (network error, non-2xx status, 429), which would otherwise go unnoticed."""

    def on_dropped_event(self, reason):
        FAILURES.append(reason)


def main():
    sentry_sdk.init(
        dsn=os.environ["FAULTLINE_DSN"],
        transport=RecordingTransport,
        release=os.environ.get("FAULTLINE_RELEASE") or None,
        environment=os.environ.get("FAULTLINE_ENVIRONMENT") or "test",
    )
    sentry_sdk.set_user({"id": "user-42", "email": "alice@example.com"})
    sentry_sdk.set_tag("feature", "checkout")
    sentry_sdk.add_breadcrumb(category="checkout", message="cart loaded", level="info")

    sites = [
        ("parse-config", lambda: parse_config({"port": "80"})),
        ("charge-card", lambda: charge_card(1999)),
        ("compute-index", lambda: compute_index(12, 10)),
    ]
    sent = []
    for _ in range(int(os.environ.get("FAULTLINE_REPEAT") or 2)):
        for label, fn in sites:
            try:
                fn()
            except Exception as err:  # noqa: BLE001 - every site raises on purpose
                sent.append({"label": label, "event_id": sentry_sdk.capture_exception(err)})
    sent.append({"label": "message", "event_id": sentry_sdk.capture_message("faultline e2e message", "info")})

    sentry_sdk.flush(timeout=10)
    sentry_sdk.Hub.current.client.close(timeout=10)
    errs = FAILURES + [f"event {s['label']} not captured" for s in sent if not s["event_id"]]
    print(json.dumps({"client": "python-sdk", "sent": sent, "requests": len(sent), "ok": not errs, "failures": errs}))
    return 1 if errs else 0


if __name__ == "__main__":
    sys.exit(main())
