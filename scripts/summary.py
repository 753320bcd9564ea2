"""Print one closing line for `make test`: every pytest case plus every non-pytest stage."""

import glob
import os
import sys
import xml.etree.ElementTree as ET


def main(argv):
    results = argv[1]
    failed_stage = argv[3] if len(argv) > 3 and argv[2] == "--failed-stage" else None
    passed = failed = skipped = 0
    for path in sorted(glob.glob(os.path.join(results, "*.xml"))):
        for suite in ET.parse(path).getroot().iter("testsuite"):
            tests = int(suite.get("tests", 0))
            bad = int(suite.get("failures", 0)) + int(suite.get("errors", 0))
            skip = int(suite.get("skipped", 0))
            passed += tests - bad - skip
            failed += bad
            skipped += skip
    # Stages that are not pytest runs (sanity, lint, molecule, build, ...) count as one check each.
    passed += len(glob.glob(os.path.join(results, "*.ok")))
    if failed_stage and not failed:
        failed = 1
    line = "total: %d passed, %d failed" % (passed, failed)
    if skipped:
        line += ", %d skipped" % skipped
    print(line)


if __name__ == "__main__":
    main(sys.argv)
