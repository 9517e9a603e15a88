"""Generates the python3-sentry-sdk part of the grouping corpus.

Each site below fails several times with different data; the events the
real SDK produces (captured by a function transport that sends nothing)
are printed as JSON lines {label, group, event}. Events of one group must
land in one issue. Run it with /usr/bin/python3 (Debian's sentry-sdk).
"""
import json
import logging
import sys

import sentry_sdk
from sentry_sdk.integrations.logging import LoggingIntegration

captured = []
sentry_sdk.init(
    dsn="http://public@127.0.0.1:9/1",
    release="billing@5.0.2",
    environment="production",
    transport=captured.append,
    default_integrations=True,
    integrations=[LoggingIntegration(level=logging.INFO, event_level=logging.ERROR)],
)
sentry_sdk.set_user({"id": "user-42", "email": "alice@example.com"})
log = logging.getLogger("billing.sync")


class PaymentError(Exception):
    pass


def compute_ratio(total):
    return 100 / total


def lookup_user(users, key):
    return users[key]


def charge_card(order):
    raise PaymentError("card declined for order %d" % order)


def load_settings(name):
    try:
        return {}[name]
    except KeyError as err:
        raise ValueError("settings %r are missing" % name) from err


def apply_discounts(prices):
    return list(map(lambda p: p / (p - p), prices))


def sync_account(host):
    log.error("Failed to connect to %s", host)


def report(count):
    sentry_sdk.capture_message("nightly report skipped %d accounts" % count, level="warning")


def reconcile(ledger):
    with sentry_sdk.push_scope() as scope:
        scope.fingerprint = ["ledger-reconciliation"]
        try:
            raise RuntimeError("ledger %s is out of balance" % ledger)
        except RuntimeError:
            sentry_sdk.capture_exception()


def run(fn, arg):
    # Every site runs through this frame, so that the events of one site
    # have the same stack whatever their argument.
    try:
        fn(arg)
    except Exception:
        sentry_sdk.capture_exception()


RUNS = [
    ("compute-ratio#0", "compute-ratio", compute_ratio, 0),
    ("compute-ratio#1", "compute-ratio", compute_ratio, 0.0),
    ("compute-ratio#2", "compute-ratio", compute_ratio, -0),
    ("lookup-user#0", "lookup-user", lambda k: lookup_user({}, k), "alice"),
    ("lookup-user#1", "lookup-user", lambda k: lookup_user({}, k), "bob"),
    ("charge-card#0", "charge-card", charge_card, 1234),
    ("charge-card#1", "charge-card", charge_card, 98765),
    ("chained#0", "chained", load_settings, "smtp"),
    ("chained#1", "chained", load_settings, "ldap"),
    ("lambda#0", "lambda", apply_discounts, [3, 4]),
    ("lambda#1", "lambda", apply_discounts, [10]),
    ("logging#0", "connect-failed", sync_account, "db1.internal"),
    ("logging#1", "connect-failed", sync_account, "10.1.2.3"),
    ("message#0", "report-skipped", report, 3),
    ("message#1", "report-skipped", report, 1200),
    ("fingerprint#0", "ledger", reconcile, "2024-Q1"),
    ("fingerprint#1", "ledger", reconcile, "EU-7"),
]

# The lambdas above differ per line; lookup-user's two events share one.
lookup = RUNS[3][2]
RUNS[4] = RUNS[4][:2] + (lookup,) + RUNS[4][3:]

for label, group, fn, arg in RUNS:
    before = len(captured)
    run(fn, arg)
    sentry_sdk.flush()
    if len(captured) != before + 1:
        sys.exit("%s: captured %d events" % (label, len(captured) - before))
    sys.stdout.write(json.dumps({"label": label, "group": "python/" + group, "event": captured[-1]}) + "\n")
