"""Runs the official FOCUS validator (PyPI focus-validator 2.2.1) on an `rtcbill export focus`
file and fails on any failed rule.

    python focus_check.py FILE

The validator is run offline (--block-download, the FOCUS 1.2 rules it ships), from its
site-packages folder (it opens focus_validator/rules/... by relative path), with the
applicability criteria rtcbill meets: a public price list, unit pricing, usage measurement,
sub accounts (apps). Its exit status does not reflect failures, so its JUnit report is read.

A rule counts as failed when its test case failed or erred, except a branch of an OR rule that
passed: FOCUS states InvoiceId nullability as "null when not on an invoice" OR "not null when on
one" (InvoiceId-C-003-C); the validator checks each branch on every row, so one branch always
fails while the OR rule itself passes.
"""

import glob
import json
import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET

import focus_validator

CRITERIA = "PUBLIC_PRICE_LIST_SUPPORTED,USAGE_MEASUREMENT_SUPPORTED,UNIT_PRICING_SUPPORTED,SUB_ACCOUNT_SUPPORTED"


def main(path):
    site = os.path.dirname(os.path.dirname(focus_validator.__file__))
    report = os.path.join(tempfile.mkdtemp(), "focus.xml")
    exe = os.path.join(os.path.dirname(sys.executable), "focus-validator")
    run = subprocess.run(
        [exe, "--data-file", os.path.abspath(path), "--validate-version", "1.2", "--block-download",
         "--applicability-criteria", CRITERIA, "--output-type", "unittest", "--output-destination", report],
        cwd=site, capture_output=True, text=True)
    if not os.path.exists(report):
        sys.exit(f"the validator wrote no report (exit {run.returncode}):\n{run.stdout}\n{run.stderr}")

    models = glob.glob(os.path.join(site, "focus_validator", "rules", "model-1.2*.json"))
    assert len(models) == 1, models
    rules = json.load(open(models[0]))["ModelRules"]
    or_parents = {}
    for rid, rule in rules.items():
        req = rule["ValidationCriteria"].get("Requirement") or {}
        if req.get("CheckFunction") == "OR":
            for item in req.get("Items", []):
                if item.get("CheckFunction") == "CheckModelRule":
                    or_parents.setdefault(item["ModelRuleId"], []).append(rid)

    status = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        rid = case.get("name").split(" :: ")[0]
        kinds = {c.tag for c in case}
        s = "failed" if kinds & {"failure", "error"} else "skipped" if "skipped" in kinds else "passed"
        msgs = [c.get("message", "") for c in case if c.tag in ("failure", "error")]
        # a rule may appear twice (leaf and composite): a failure anywhere is a failure
        if status.get(rid, ("passed", []))[0] != "failed":
            status[rid] = (s, msgs)

    failed = [r for r, (s, _) in status.items() if s == "failed"]
    excused = [r for r in failed if any(status.get(p, ("", []))[0] == "passed" for p in or_parents.get(r, []))]
    real = sorted(set(failed) - set(excused))
    passed = sum(1 for s, _ in status.values() if s == "passed")
    print(f"rules: {len(status)}, passed: {passed}, skipped: {sum(1 for s, _ in status.values() if s == 'skipped')}, "
          f"failed: {len(real)}, failed branches of a passed OR rule: {sorted(excused)}")
    for r in real:
        print(f"FAILED {r}: {status[r][1]}")
    if real:
        sys.exit(1)
    # the checks that matter ran: mandatory columns present, cost arithmetic, allowed values
    for must in ["CostAndUsage-D-006-M", "CostAndUsage-D-004-C", "CostAndUsage-D-011-C", "CostAndUsage-D-019-C", "BilledCost-C-000-M", "ListUnitPrice-C-010-C", "ChargeCategory-C-003-M",
                 "ChargeClass-C-000-M", "PricingQuantity-C-005-C", "SkuPriceId-C-005-C", "ConsumedQuantity-C-000-C"]:
        assert status.get(must, ("missing",))[0] == "passed", (must, status.get(must))
    print("FOCUS validation passed")


if __name__ == "__main__":
    main(sys.argv[1])
