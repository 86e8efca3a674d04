// SPDX-License-Identifier: Apache-2.0
// The JVM workload of tests/real/jvm.sh: prints a growing count ten times a second.
public class Ticker {
    public static void main(String[] args) throws Exception {
        long n = 0;
        while (true) {
            Thread.sleep(100);
            System.out.println("tick " + (++n));
        }
    }
}
