# SPDX-License-Identifier: Apache-2.0
# Three threads count; the main thread prints the three totals to stdout every 100 ms.
# tests/real/real.sh checks that after a restore the totals go on from where they were.
import sys
import threading
import time

counts = [0, 0, 0]


def work(i):
    while True:
        counts[i] += 1
        time.sleep(0.001)


for i in range(3):
    threading.Thread(target=work, args=(i,), daemon=True).start()

while True:
    time.sleep(0.1)
    print(counts[0], counts[1], counts[2], flush=True)
