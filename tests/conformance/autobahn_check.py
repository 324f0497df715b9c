"""Runs Autobahn TestSuite cases 1-13 with kosoku against URL and judges every result.

    python3 autobahn_check.py ws://127.0.0.1:PORT/ws/echo REPORT_DIR

A case passes when its message behaviour is OK or INFORMATIONAL and its closing behaviour is OK or
INFORMATIONAL. NON-STRICT fails too, except for 6.4.3 and 6.4.4: the server notices invalid UTF-8
only once a whole frame has arrived (tungstenite's reader hands over whole frames; see
docs/websocket_api.md, "Conformance"). Cases 12 and 13 (permessage-deflate, RFC 7692) have no
exception: the server must negotiate compression (UNIMPLEMENTED fails) and echo every message. Exit 0 when every case passes, 1 otherwise. The reports
(JSON and HTML per case) go to REPORT_DIR.
"""

import asyncio
import collections
import sys

from kosoku import FailureError, run_fuzzingclient
from kosoku._report import write_reports

# Sections 1 to 10 of the suite (it has no section 8 nor 11) and 12, 13: permessage-deflate.
CASES = [f"{section}.*" for section in (1, 2, 3, 4, 5, 6, 7, 9, 10, 12, 13)]
ACCEPTED = {"OK", "INFORMATIONAL"}
# Case id -> the one verdict it may have besides ACCEPTED, and why.
EXCEPTIONS = {
    "6.4.3": ("NON-STRICT", "invalid UTF-8 inside one frame is seen when the frame is complete"),
    "6.4.4": ("NON-STRICT", "invalid UTF-8 inside one frame is seen when the frame is complete"),
}
# Cases run at once: more finishes sooner on two cores without changing any verdict.
CONCURRENCY = 4


def case_key(case_id):
    return tuple(int(part) for part in case_id.split("."))


def main():
    url, report_dir = sys.argv[1], sys.argv[2]
    try:
        results = asyncio.run(run_fuzzingclient(url, CASES, None, concurrency=CONCURRENCY))
    except FailureError as failure:
        results = failure.results
    if not results:
        print("autobahn: no case ran", file=sys.stderr)
        return 1
    write_reports(results, report_dir)
    verdicts = collections.Counter()
    bad = []
    for result in sorted(results, key=lambda r: case_key(r.case_id)):
        behavior, close = result.behavior.value, result.behavior_close.value
        verdicts[behavior] += 1
        allowed = set(ACCEPTED)
        if result.case_id in EXCEPTIONS:
            allowed.add(EXCEPTIONS[result.case_id][0])
        if behavior not in allowed or close not in ACCEPTED:
            bad.append(f"  {result.case_id}: {behavior} / close {close} (remote close code "
                       f"{result.remote_close_code}): {result.result} {result.result_close}")
    summary = ", ".join(f"{count} {verdict}" for verdict, count in sorted(verdicts.items()))
    print(f"autobahn: {len(results)} cases of 1-13 against {url}: {summary}")
    for case_id, (verdict, why) in EXCEPTIONS.items():
        print(f"autobahn: {case_id} may be {verdict}: {why}")
    if bad:
        print(f"autobahn: {len(bad)} case(s) not accepted (reports in {report_dir}):", file=sys.stderr)
        print("\n".join(bad), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
