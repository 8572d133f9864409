# The Python debuggee of test/e2e/debuggers.test.ts, run under debugpy: once
# the file in argv[1] exists (the capture has attached), it imports sqlite3,
# whose C extension _sqlite3 is mapped then, a real MMAP2 (not ctypes:
# debugpy imports that itself, before the attach). Then it stays, so its
# mappings stay live, until the debugger ends it.
import os
import sys
import time

for _ in range(12000):  # bounded: ten minutes at most, for a test that never says go
    if os.path.exists(sys.argv[1]):
        break
    time.sleep(0.05)

import sqlite3  # noqa: E402 (after the attach, on purpose)

print("sqlite", sqlite3.sqlite_version, flush=True)
while True:
    time.sleep(60)
