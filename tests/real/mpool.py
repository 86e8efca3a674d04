# SPDX-License-Identifier: Apache-2.0
# A multiprocessing pool of 4 workers (fork start method) fed by the parent over the pool's pipes.
# Prints "workers PID..." once, then every 100 ms hands 16 new tasks to the pool and prints
# "K SUM PID...": K counts rounds from 1, SUM is the sum of x*x for x in [16K, 16K+16) as the
# workers computed it, the PIDs are the workers that computed it.
# tests/real/real.sh checks that after a restore the rounds go on, the sums are right and the
# work is done by the same four workers.
import multiprocessing
import os
import sys
import time


def square(x):
    return x * x, os.getpid()


def main():
    multiprocessing.set_start_method("fork")
    with multiprocessing.Pool(4) as pool:
        # the first round makes sure every worker is up before their PIDs are printed
        pool.map(square, range(16), chunksize=1)
        workers = sorted(p.pid for p in multiprocessing.active_children())
        print("workers", *workers, flush=True)
        k = 0
        while True:
            k += 1
            res = pool.map(square, range(16 * k, 16 * k + 16), chunksize=1)
            total = sum(r[0] for r in res)
            pids = sorted({r[1] for r in res})
            print(k, total, *pids, flush=True)
            time.sleep(0.1)


if __name__ == "__main__":
    sys.exit(main())
