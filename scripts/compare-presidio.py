#!/usr/bin/env python3
"""Scores Presidio's own pattern recognizers on llmwatch's generated PII corpus.

A one-off comparison, not part of scripts/check: it needs presidio-analyzer, which is
large. Produce the corpus and run it with:

    LLMWATCH_CORPUS_OUT=/tmp/corpus.jsonl cargo test --lib precision_and_recall
    python3 -m venv /tmp/presidio && /tmp/presidio/bin/pip install presidio-analyzer==2.2.366
    /tmp/presidio/bin/python scripts/compare-presidio.py /tmp/corpus.jsonl

Only the detectors both tools have are scored, with the same rule as llmwatch's test: a
result of the right entity that overlaps the labelled value is a true positive, any other
result is a false positive, and a labelled value with no such result is a false negative.
Presidio runs without an NLP engine (its pattern recognizers need none), at score >= 0.4.
"""

import json
import sys
from collections import defaultdict

from presidio_analyzer.predefined_recognizers import (
    CreditCardRecognizer,
    EmailRecognizer,
    IbanRecognizer,
    IpRecognizer,
    PhoneRecognizer,
    UsSsnRecognizer,
)

ENTITY_OF = {
    "email": "EMAIL_ADDRESS",
    "phone": "PHONE_NUMBER",
    "card": "CREDIT_CARD",
    "ssn": "US_SSN",
    "ipv4": "IP_ADDRESS",
    "ipv6": "IP_ADDRESS",
    "iban": "IBAN_CODE",
}
LABEL_OF = {"EMAIL_ADDRESS": "email", "PHONE_NUMBER": "phone", "CREDIT_CARD": "card", "US_SSN": "ssn", "IP_ADDRESS": "ip", "IBAN_CODE": "iban"}
RECOGNIZERS = [EmailRecognizer(), PhoneRecognizer(), CreditCardRecognizer(), UsSsnRecognizer(), IpRecognizer(), IbanRecognizer()]


def char_offset(text, byte_offset):
    return len(text.encode("utf-8")[:byte_offset].decode("utf-8"))


def main(path):
    score = defaultdict(lambda: [0, 0, 0])  # tp, fp, fn by label
    for line in open(path, encoding="utf-8"):
        item = json.loads(line)
        label = item["label"]
        if label is not None and label not in ENTITY_OF:
            label = None  # a secret llmwatch detects and Presidio has no recognizer for
        text = item["text"]
        span = (char_offset(text, item["start"]), char_offset(text, item["end"])) if label else None
        results = []
        for r in RECOGNIZERS:
            results += [x for x in r.analyze(text, r.supported_entities, None) if x.score >= 0.4]
        hit = False
        for x in results:
            key = LABEL_OF[x.entity_type]
            overlaps = span and x.start < span[1] and span[0] < x.end
            if label and x.entity_type == ENTITY_OF[label] and overlaps:
                hit = True
            else:
                score[key][1] += 1
        if label:
            key = "ip" if label.startswith("ipv") else label
            if hit:
                score[key][0] += 1
            else:
                score[key][2] += 1
    print(f"{'entity':<8} {'prec':>6} {'recall':>6} {'tp':>5} {'fp':>5} {'fn':>5}")
    for key in sorted(score):
        tp, fp, fn = score[key]
        print(f"{key:<8} {tp / max(tp + fp, 1):>6.3f} {tp / max(tp + fn, 1):>6.3f} {tp:>5} {fp:>5} {fn:>5}")


if __name__ == "__main__":
    main(sys.argv[1])
