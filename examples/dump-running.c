// SPDX-License-Identifier: Apache-2.0
/*
 * A checkpoint through libferry, as a daemon would take one: dump a running process into a
 * directory and leave it running, with a log callback, a progress callback and the result read
 * from the handle. Build it against the installed library:
 *
 *   cc -o dump-running dump-running.c $(pkg-config --cflags --libs ferry)
 *   ./dump-running PID DIR
 */
#include <stdio.h>
#include <stdlib.h>
#include <ferry/ferry.h>

static void on_log(void *arg, int level, const char *msg)
{
	fprintf(stderr, "[%s] %s", level <= FERRY_LOG_ERROR ? "error" : "warn", msg);
}

static void on_progress(void *arg, const struct ferry_progress *p)
{
	if (p->unit == FERRY_UNIT_STAGES)
		fprintf(stderr, "stage %s (%llu/%llu)%s\n", p->phase, (unsigned long long)p->done,
			(unsigned long long)p->total, p->tree == FERRY_TREE_FROZEN ? ", tree frozen" : "");
}

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s PID DIR\n", argv[0]);
		return 2;
	}
	ferry_op *op = ferry_op_new(FERRY_OP_DUMP);
	if (!op)
		return 1;
	ferry_op_set_int(op, "tree", atoll(argv[1]));
	ferry_op_set_str(op, "images-dir", argv[2]);
	ferry_op_set_bool(op, "leave-running", 1);
	ferry_op_set_log(op, on_log, FERRY_LOG_WARN, NULL);
	ferry_op_set_progress(op, on_progress, NULL);
	int r = ferry_op_run(op);
	if (r < 0) {
		fprintf(stderr, "dump failed (%s): %s\n", ferry_err_class_name(ferry_op_error_class(op)),
			ferry_op_error_message(op));
		ferry_op_free(op);
		return 1;
	}
	printf("image %s\n", ferry_op_image_id(op));
	for (size_t i = 0; i < ferry_op_stat_count(op); i++) {
		uint64_t v = 0;
		ferry_op_stat(op, ferry_op_stat_name(op, i), &v);
		printf("%s %llu\n", ferry_op_stat_name(op, i), (unsigned long long)v);
	}
	ferry_op_free(op);
	return 0;
}
