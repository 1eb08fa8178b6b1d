#!/usr/bin/env python3
"""The PII harness: labelled text from oracles llmwatch did not write, sent through the real
binary over OTLP (gRPC and HTTP/protobuf), scored from what the file exporter wrote.

Positives come from independent libraries: phone numbers from `phonenumbers` (valid
numbers of 36 regions, in E.164, international and, for llmwatch's default
`phone_regions`, national format), IBANs and US SSNs checked by `python-stdnum`, payment
cards of every brand range with a Luhn check digit checked by `stdnum.luhn`, e-mails,
IPv4/IPv6 addresses (Python's `ipaddress`) and vendor secrets. Hard negatives are dates,
times, timestamps, versions, ids, prices, ISBNs, invalid SSN areas and numbers that fail
their checksum.

Each value goes into one of 24 templates in 9 languages, chosen so that every boundary of
the issue is covered (sentence punctuation, brackets and quotes, markdown emphasis, newline
and tab, non-ASCII punctuation, start and end of string), and into one of seven locations:
span attribute, content JSON (`gen_ai.input.messages`, JSON-escaped), flattened
`llm.input_messages`, span event, log string body, log kvlist body, resource attribute.

A positive counts as found when its value, as written, no longer appears in that item's
text in the output; a negative counts as kept when its text comes out byte for byte.

    pii_harness.py --grpc HOST:PORT --http HOST:PORT --out OUT.jsonl [--report R.json]
                   [--corpus C.jsonl] [--min-recall 0.995] [--min-kept 0.995]
"""

import argparse
import os
import ipaddress
import json
import random
import string
import sys
import time
import urllib.request
from collections import defaultdict

import grpc
import phonenumbers
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from stdnum import iban as std_iban
from stdnum import luhn
from stdnum.us import ssn as std_ssn
from opentelemetry.proto.collector.logs.v1 import logs_service_pb2, logs_service_pb2_grpc
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2, trace_service_pb2_grpc
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue, KeyValueList
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord, ResourceLogs, ScopeLogs
from opentelemetry.proto.resource.v1.resource_pb2 import Resource
from opentelemetry.proto.trace.v1.trace_pb2 import ResourceSpans, ScopeSpans, Span

# llmwatch's default phone_regions (src/redact/phone.rs): national formats are expected
# to be found for these; other regions are written internationally.
DEFAULT_REGIONS = ["US", "CN", "JP", "DE", "IN", "GB", "FR", "IT", "BR", "CA", "RU", "MX",
                   "KR", "AU", "ES", "ID", "NL", "TR", "SA", "CH"]
OTHER_REGIONS = ["AR", "PL", "SE", "BE", "AT", "NG", "EG", "ZA", "PH", "VN", "TH", "PK",
                 "BD", "CO", "CL", "PT"]

# Every boundary of issue 13: . : ; ! ? … ) ] " ' ** _ \n \t 。 、 ، « » 「」 start, end.
TEMPLATES = [
    "{}",                                                    # whole string
    "My card is {}.",                                        # en, sentence end
    "Call me at {}. Bye",                                    # en
    "Details: {}",                                           # en, end of string
    "is it {}? thanks",                                      # en
    "it's {}! great",                                        # en
    "write it down ({}) please",                             # en, brackets
    "the value was **{}** yesterday",                        # en, markdown bold
    "the value was _{}_ yesterday",                          # en, markdown emphasis
    "see [{}]",                                              # en, square brackets
    "first line\n{}\nsecond line",                           # newline
    "field\t{}\tnext",                                       # tab
    'user said: "{}" and left',                              # double quotes
    "it is '{}'; ok",                                        # single quotes, semicolon
    "wait… {}… done",                                        # ellipsis
    "Meine Angaben: {}. Danke!",                             # de
    "Mon contact est «{}», merci.",                          # fr, guillemets
    "¿Mi dato? {}; gracias",                                 # es
    "Meus dados são {}, obrigado",                           # pt
    "我的信息是{}。谢谢",                                      # zh, ideographic full stop
    "連絡先は「{}」です。",                                     # ja, corner brackets
    "معلوماتي {}، شكرا",                                      # ar, arabic comma
    "Мои данные: {}!",                                       # ru
    "मेरी जानकारी {} है।",                                     # hi, danda
]

LOCATIONS = ["span_attribute", "content_json", "flattened_messages", "span_event",
             "log_body", "log_kvlist", "resource_attribute"]


def phone_numbers(rng, count):
    """Valid numbers of 36 regions, in E.164, international and national format."""
    out = []
    kinds = [PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE]
    regions = DEFAULT_REGIONS + OTHER_REGIONS
    while len(out) < count:
        region = regions[len(out) % len(regions)]
        example = phonenumbers.example_number_for_type(region, kinds[rng.randrange(2)])
        if example is None:
            continue
        national = str(example.national_number)
        for _ in range(200):  # random digits after the example's leading ones, until valid
            keep = max(2, len(national) - 5)
            candidate = national[:keep] + "".join(rng.choice(string.digits) for _ in national[keep:])
            number = phonenumbers.parse("+" + str(example.country_code) + candidate)
            if phonenumbers.is_valid_number(number):
                break
        else:
            continue
        formats = [PhoneNumberFormat.E164, PhoneNumberFormat.INTERNATIONAL]
        if region in DEFAULT_REGIONS:
            formats.append(PhoneNumberFormat.NATIONAL)
        fmt = formats[len(out) % len(formats)]
        out.append(("phone", phonenumbers.format_number(number, fmt)))
    return out


CARD_BRANDS = [  # (prefixes, lengths)
    (["4"], [13, 16, 19]),                                   # Visa
    ([str(p) for p in range(51, 56)], [16]),                 # Mastercard
    ([str(p) for p in range(2221, 2721, 37)], [16]),         # Mastercard 2-series
    (["34", "37"], [15]),                                    # Amex
    (["6011", "65"] + [str(p) for p in range(644, 650)], [16, 19]),  # Discover
    ([str(p) for p in range(3528, 3590, 7)], [16]),          # JCB
    ([str(p) for p in range(300, 306)] + ["36", "38"], [14]),  # Diners
    (["62"], [16, 19]),                                      # UnionPay
    (["6759", "6761", "5018", "5020"], [16, 19]),            # Maestro
    (["2200", "2201", "2202", "2203", "2204"], [16]),        # Mir
]


def cards(rng, count):
    out = []
    while len(out) < count:
        prefixes, lengths = CARD_BRANDS[len(out) % len(CARD_BRANDS)]
        prefix, length = rng.choice(prefixes), rng.choice(lengths)
        body = prefix + "".join(rng.choice(string.digits) for _ in range(length - len(prefix) - 1))
        number = body + luhn.calc_check_digit(body)
        assert luhn.is_valid(number)
        style = len(out) % 3
        if style == 1 and length in (15, 14):
            groups = [number[:4], number[4:10], number[10:]]       # Amex / Diners print
        elif style == 0:
            groups = [number]
        else:
            groups = [number[i:i + 4] for i in range(0, length, 4)]
        out.append(("card", (" " if len(out) % 2 else "-").join(groups)))
    return out


IBAN_BBAN = {"DE": "18n", "GB": "4a14n", "FR": "23n", "ES": "20n", "NL": "4a10n", "IT": "1a22n",
             "CH": "17n", "AT": "16n", "BE": "12n", "PL": "24n", "SE": "20n", "PT": "21n",
             "DK": "14n", "NO": "11n", "FI": "14n", "IE": "4a14n"}


def ibans(rng, count):
    out = []
    countries = sorted(IBAN_BBAN)
    tries = 0
    while len(out) < count and tries < count * 500:
        tries += 1
        cc = countries[len(out) % len(countries)]
        bban = ""
        spec = IBAN_BBAN[cc]
        parts = []
        num = ""
        for ch in spec:
            if ch.isdigit():
                num += ch
            else:
                parts.append((int(num), ch))
                num = ""
        for n, kind in parts:
            alphabet = string.ascii_uppercase if kind == "a" else string.digits
            bban += "".join(rng.choice(alphabet) for _ in range(n))
        check = std_iban.calc_check_digits(cc + "00" + bban)
        number = cc + check + bban
        if not std_iban.is_valid(number):
            continue  # national check digits inside the BBAN (BE, ES, FR, …) did not hold
        grouped = len(out) % 2 == 1
        out.append(("iban", " ".join(number[i:i + 4] for i in range(0, len(number), 4)) if grouped else number))
    return out


def ssns(rng, count):
    out = []
    while len(out) < count:
        area, group, serial = rng.randrange(1, 900), rng.randrange(1, 100), rng.randrange(1, 10000)
        number = f"{area:03d}{group:02d}{serial:04d}"
        if not std_ssn.is_valid(number):
            continue
        sep = "-" if len(out) % 2 == 0 else " "
        out.append(("ssn", f"{number[:3]}{sep}{number[3:5]}{sep}{number[5:]}"))
    return out


def emails(rng, count):
    out = []
    tlds = ["com", "org", "de", "co.uk", "io", "com.br", "fr", "info"]
    for i in range(count):
        user = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randrange(3, 10)))
        if i % 3 == 1:
            user += "." + "".join(rng.choice(string.ascii_lowercase) for _ in range(4))
        if i % 4 == 2:
            user += "+tag" + str(rng.randrange(100))
        host = "".join(rng.choice(string.ascii_lowercase) for _ in range(rng.randrange(4, 12)))
        out.append(("email", f"{user}@{host}.{tlds[i % len(tlds)]}"))
    return out


def ips(rng, count):
    out = []
    while len(out) < count:
        if len(out) % 2 == 0:
            addr = ipaddress.IPv4Address(rng.getrandbits(32))
            if addr.is_unspecified or addr.is_multicast or str(addr).startswith("0."):
                continue
            out.append(("ipv4", str(addr)))
        else:
            addr = ipaddress.IPv6Address((0x2001 << 112) | rng.getrandbits(96))
            out.append(("ipv6", addr.compressed if len(out) % 4 == 1 else addr.exploded))
    return out


def secrets(rng, count):
    alnum = string.ascii_letters + string.digits
    r = lambda n, alphabet=alnum: "".join(rng.choice(alphabet) for _ in range(n))
    b64 = lambda n: r(n, alnum + "-_")
    makers = [
        lambda: "sk-proj-" + b64(48),
        lambda: "sk-ant-api03-" + b64(40),
        lambda: "AKIA" + r(16, string.ascii_uppercase + string.digits),
        lambda: "ghp_" + r(36),
        lambda: "xoxb-" + r(12, string.digits) + "-" + r(24),
        lambda: "sk_live_" + r(24),
        lambda: "AIza" + b64(35),
        lambda: "eyJ" + b64(20) + ".eyJ" + b64(30) + "." + b64(43),
    ]
    return [("secret", makers[i % len(makers)]()) for i in range(count)]


def negatives(rng, count):
    hexs = lambda n: "".join(rng.choice("0123456789abcdef") for _ in range(n))
    d = lambda n: "".join(rng.choice(string.digits) for _ in range(n))

    def bad_luhn():
        body = "4" + d(14)
        return body + str((int(luhn.calc_check_digit(body)) + 1) % 10)

    makers = [
        lambda: f"2026-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
        lambda: f"{rng.randrange(1, 29):02d}.{rng.randrange(1, 13):02d}.{rng.randrange(1990, 2030)}",
        lambda: f"{rng.randrange(1, 13):02d}/{rng.randrange(1, 29):02d}/{rng.randrange(1990, 2030)}",
        lambda: f"{rng.randrange(1, 29):02d}/{rng.randrange(1, 13):02d}/{rng.randrange(1990, 2030)}",
        lambda: f"2026-11-{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z",
        lambda: f"{rng.randrange(0, 24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}",
        lambda: str(rng.randrange(1_600_000_000, 1_800_000_000)),
        lambda: str(rng.randrange(1_600_000_000_000, 1_800_000_000_000)),
        lambda: f"v{rng.randrange(1, 20)}.{rng.randrange(0, 40)}.{rng.randrange(0, 200)}",
        # A build number past 255, so that it is not also an IPv4 address.
        lambda: f"{rng.randrange(1, 5)}.{rng.randrange(0, 20)}.{rng.randrange(0, 20)}.{rng.randrange(256, 2000)}",
        lambda: f"{hexs(8)}-{hexs(4)}-4{hexs(3)}-a{hexs(3)}-{hexs(12)}",
        lambda: hexs(32),
        lambda: f"${rng.randrange(1, 999)},{d(3)}.{d(2)}",
        lambda: f"{rng.randrange(1, 999)}.{d(3)},{d(2)} €",
        lambda: f"ORD-2026-{d(6)}",
        lambda: f"INV {d(4)}-{d(5)}",
        lambda: f"978-{rng.randrange(0, 2)}-{d(4)}-{d(4)}-{d(1)}",
        lambda: f"{rng.choice(['000', '666', '9' + d(2)])}-{d(2)}-{d(4)}",
        bad_luhn,
        lambda: f"gpt-4o-2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}",
        lambda: f"localhost:{rng.randrange(1024, 65535)}",
        lambda: f"{rng.randrange(10, 90)}.{d(4)}, {rng.randrange(10, 90)}.{d(4)}",
        lambda: f"chatcmpl-{''.join(rng.choice(string.ascii_letters + string.digits) for _ in range(24))}",
        lambda: f"{d(3)} ms",
    ]
    return [("negative", makers[i % len(makers)]()) for i in range(count)]


def corpus(seed, per_type):
    rng = random.Random(seed)
    values = (phone_numbers(rng, per_type * 2) + cards(rng, per_type) + ibans(rng, per_type)
              + ssns(rng, per_type) + emails(rng, per_type) + ips(rng, per_type)
              + secrets(rng, per_type) + negatives(rng, per_type * 3))
    items = []
    for i, (label, value) in enumerate(values):
        template = TEMPLATES[i % len(TEMPLATES)]
        location = LOCATIONS[(i // len(TEMPLATES)) % len(LOCATIONS)]
        items.append({"id": i, "label": label, "value": value, "template": template,
                      "text": template.format(value), "location": location})
    return items


def s(text):
    return AnyValue(string_value=text)


def kv(key, text):
    return KeyValue(key=key, value=s(text))


def span_id(i):
    return (i + 1).to_bytes(8, "big")


TRACE_ID = bytes.fromhex("5b8efff798038103d269b633813fc60c")


def resource_spans(item):
    text, loc = item["text"], item["location"]
    resource = Resource(attributes=[kv("service.name", "pii-harness")])
    span = Span(trace_id=TRACE_ID, span_id=span_id(item["id"]), name="harness", kind=1,
                start_time_unix_nano=1_764_150_000_000_000_000, end_time_unix_nano=1_764_150_001_000_000_000)
    if loc == "span_attribute":
        span.attributes.append(kv("app.note", text))
    elif loc == "content_json":
        messages = [{"role": "user", "parts": [{"type": "text", "content": text}]}]
        span.attributes.append(kv("gen_ai.input.messages", json.dumps(messages)))
    elif loc == "flattened_messages":
        span.attributes.append(kv("llm.input_messages.0.message.role", "user"))
        span.attributes.append(kv("llm.input_messages.0.message.content", text))
    elif loc == "span_event":
        event = span.events.add(name="gen_ai.user.message", time_unix_nano=1_764_150_000_500_000_000)
        event.attributes.append(kv("content", text))
    elif loc == "resource_attribute":
        resource.attributes.append(kv("app.customer_note", text))
    return ResourceSpans(resource=resource, scope_spans=[ScopeSpans(spans=[span])])


def resource_logs(item):
    record = LogRecord(time_unix_nano=1_764_150_000_000_000_000, trace_id=TRACE_ID,
                       span_id=span_id(item["id"]), severity_number=9, severity_text="INFO")
    if item["location"] == "log_body":
        record.body.CopyFrom(s(item["text"]))
    else:
        record.body.CopyFrom(AnyValue(kvlist_value=KeyValueList(values=[kv("message", item["text"])])))
    return ResourceLogs(resource=Resource(attributes=[kv("service.name", "pii-harness")]),
                        scope_logs=[ScopeLogs(log_records=[record])])


def send(items, grpc_addr, http_addr, batch=100):
    channel = grpc.insecure_channel(grpc_addr)
    traces_stub = trace_service_pb2_grpc.TraceServiceStub(channel)
    logs_stub = logs_service_pb2_grpc.LogsServiceStub(channel)
    spans = [i for i in items if not i["location"].startswith("log_")]
    logs = [i for i in items if i["location"].startswith("log_")]
    requests = 0
    for n, start in enumerate(range(0, len(spans), batch)):
        req = trace_service_pb2.ExportTraceServiceRequest(
            resource_spans=[resource_spans(i) for i in spans[start:start + batch]])
        post(req, traces_stub.Export, http_addr, "/v1/traces", n)
        requests += 1
    for n, start in enumerate(range(0, len(logs), batch)):
        req = logs_service_pb2.ExportLogsServiceRequest(
            resource_logs=[resource_logs(i) for i in logs[start:start + batch]])
        post(req, logs_stub.Export, http_addr, "/v1/logs", n)
        requests += 1
    channel.close()
    return len(spans), len(logs)


def post(req, grpc_call, http_addr, path, n):
    """Every other request over gRPC, the rest over HTTP/protobuf."""
    if n % 2 == 0:
        grpc_call(req, timeout=30)
        return
    http = urllib.request.Request(f"http://{http_addr}{path}", data=req.SerializeToString(),
                                  headers={"Content-Type": "application/x-protobuf"}, method="POST")
    with urllib.request.urlopen(http, timeout=30) as response:
        assert response.status == 200, response.status


def attr(attrs, key):
    for a in attrs or []:
        if a.get("key") == key:
            return a.get("value", {}).get("stringValue")
    return None


def read_output(path, want_spans, want_logs, timeout):
    """The text at each item's location in the file exporter's output, by item id."""
    deadline = time.monotonic() + timeout
    while True:
        found = {}
        n_spans = n_logs = 0
        try:
            lines = open(path, encoding="utf-8").read().splitlines()
        except FileNotFoundError:
            lines = []
        for line in lines:
            if not line.strip():
                continue
            doc = json.loads(line)
            for rs in doc.get("resourceSpans", []):
                resource = rs.get("resource", {}).get("attributes")
                for ss in rs.get("scopeSpans", []):
                    for span in ss.get("spans", []):
                        n_spans += 1
                        found[int(span["spanId"], 16) - 1] = {
                            "span_attribute": attr(span.get("attributes"), "app.note"),
                            "content_json": attr(span.get("attributes"), "gen_ai.input.messages"),
                            "flattened_messages": attr(span.get("attributes"), "llm.input_messages.0.message.content"),
                            "span_event": attr((span.get("events") or [{}])[0].get("attributes"), "content"),
                            "resource_attribute": attr(resource, "app.customer_note"),
                        }
            for rl in doc.get("resourceLogs", []):
                for sl in rl.get("scopeLogs", []):
                    for rec in sl.get("logRecords", []):
                        n_logs += 1
                        body = rec.get("body") or {}
                        kvl = (body.get("kvlistValue") or {}).get("values")
                        found[int(rec["spanId"], 16) - 1] = {
                            "log_body": body.get("stringValue"),
                            "log_kvlist": attr(kvl, "message"),
                        }
        if (n_spans >= want_spans and n_logs >= want_logs) or time.monotonic() > deadline:
            return found
        time.sleep(0.2)


def out_text(item, found):
    got = found.get(item["id"], {}).get(item["location"])
    if got is not None and item["location"] == "content_json":
        try:
            got = json.loads(got)[0]["parts"][0]["content"]
        except (ValueError, KeyError, IndexError, TypeError):
            pass  # not valid JSON any more: scored on the raw text
    return got


def score(items, found):
    table = defaultdict(lambda: {"n": 0, "ok": 0, "misses": []})
    by_location = defaultdict(lambda: {"n": 0, "ok": 0})
    for item in items:
        got = out_text(item, found)
        if item["label"] == "negative":
            ok = got == item["text"]
        else:
            ok = got is not None and item["value"] not in got
        row = table[item["label"]]
        row["n"] += 1
        row["ok"] += ok
        by_location[item["location"]]["n"] += 1
        by_location[item["location"]]["ok"] += ok
        if not ok:
            row["misses"].append({"text": item["text"], "location": item["location"], "got": got})
    return table, by_location


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--grpc", required=True)
    ap.add_argument("--http", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--report")
    ap.add_argument("--corpus")
    ap.add_argument("--per-type", type=int, default=600)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--min-recall", type=float, default=0.995)
    ap.add_argument("--min-kept", type=float, default=0.995)
    args = ap.parse_args()

    items = corpus(args.seed, args.per_type)
    if args.corpus:
        with open(args.corpus, "w", encoding="utf-8") as f:
            for item in items:
                f.write(json.dumps(item, ensure_ascii=False) + "\n")
    started = time.monotonic()
    n_spans, n_logs = send(items, args.grpc, args.http)
    found = read_output(args.out, n_spans, n_logs, timeout=60)
    table, by_location = score(items, found)
    elapsed = time.monotonic() - started

    print(f"{'type':<10} {'n':>6} {'found':>7}   (negatives: kept)")
    failed = []
    for label in sorted(table):
        row = table[label]
        rate = row["ok"] / max(row["n"], 1)
        print(f"{label:<10} {row['n']:>6} {rate:>7.4f}")
        limit = args.min_kept if label == "negative" else args.min_recall
        if rate < limit:
            failed.append(label)
    print(f"by location: " + ", ".join(f"{k} {v['ok']}/{v['n']}" for k, v in sorted(by_location.items())))
    print(f"{len(items)} items ({n_spans} spans, {n_logs} log records) sent and scored in {elapsed:.1f} s")
    for label in sorted(table):
        for miss in table[label]["misses"][:int(os.environ.get("PII_HARNESS_SHOW", "8"))]:
            print(f"MISS {label}: {json.dumps(miss, ensure_ascii=False)}")
    if args.report:
        with open(args.report, "w", encoding="utf-8") as f:
            json.dump({k: {"n": v["n"], "ok": v["ok"], "misses": v["misses"]} for k, v in table.items()},
                      f, ensure_ascii=False, indent=1)
    if failed:
        print(f"below the gate: {failed}", file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
