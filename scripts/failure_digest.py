# Copyright (c) hybridchat.ccm contributors
# GNU General Public License v3.0+ (see https://www.gnu.org/licenses/gpl-3.0.txt)
# SPDX-License-Identifier: GPL-3.0-or-later
"""Print the failure lines of an ansible/molecule log, short, so that they end the output CI shows.

    python3 scripts/failure_digest.py LOG [EXTRA_REPORT ...]

EXTRA_REPORT files (written by tools/nspawn/hosts.py up) are printed whole (at most 20 lines each).
"""

import re
import sys

PATTERN = re.compile(r'(^fatal: |^failed: \[|FAILED! =>|ERROR!|^ERROR |^\s*"?msg"?: |AssertionError|Traceback|'
                     r'Executed: Failed|^\[hosts\] )')


def digest(path, limit=14, width=400):
    try:
        with open(path, 'r', encoding='utf-8', errors='replace') as handle:
            lines = handle.read().splitlines()
    except OSError:
        return []
    picked = []
    for number, line in enumerate(lines):
        if PATTERN.search(line):
            text = line.strip()
            # A failed task's header is the most useful context for its `fatal:` line.
            if text.startswith(('fatal:', 'failed:')):
                header = next((lines[i].strip() for i in range(number - 1, max(number - 40, -1), -1)
                               if lines[i].startswith('TASK [')), None)
                if header and (not picked or picked[-1] != header[:width]):
                    picked.append(header[:width])
            picked.append(text[:width])
    return picked[-limit:]


def main(argv):
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    print('---- failure digest of %s ----' % argv[0])
    for line in digest(argv[0]):
        print(line)
    for extra in argv[1:]:
        try:
            with open(extra, 'r', encoding='utf-8', errors='replace') as handle:
                for line in handle.read().splitlines()[:20]:
                    print(line[:600])
        except OSError:
            pass
    print('---- end of the failure digest ----')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
