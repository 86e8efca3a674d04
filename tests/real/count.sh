# SPDX-License-Identifier: Apache-2.0
# Counts using bash builtins only (no child processes); prints every 20000th number.
i=0
while :; do
	i=$((i + 1))
	if ((i % 20000 == 0)); then
		echo $i
	fi
done
