/* SPDX-License-Identifier: Apache-2.0 */
/*
 * libFuzzer harness for the receiving end of an image stream: conn_recv (framing, checksums,
 * sequence numbers, seals) and rx_stream (BEGIN/DATA/COMMIT/ABORT/REMOVE/CLOSE into a directory),
 * src/transport/conn.c and receiver.c. The input describes frames, which the harness sends as a
 * real sender would (sealed with a fixed key when the first byte says so, so that mutated
 * payloads get past the seal), then optionally flips one byte of the stream. Checked: no memory
 * error; a failed session leaves the directory empty; and in a sealed stream, a flipped byte the
 * receiver read never ends in a stored image.
 *
 * Input: flags (bit 0 sealed, bit 1 flip a byte), then frames: type, file id, u16 length, payload;
 * with bit 1, the last 3 bytes are the flip's offset (u16) and its xor mask.
 */
#include <dirent.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "common/log.h"
#include "transport/handshake.h"
#include "transport/seal.h"

static const uint8_t key[KEY_LEN] = "ferry fuzz_stream fixed key 0123";
static int out_dir = -1;

static void empty_dir(int must_be_empty)
{
	DIR *d = fdopendir(dup(out_dir));
	struct dirent *e;
	int found = 0;
	if (!d)
		abort();
	while ((e = readdir(d))) {
		if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, ".."))
			continue;
		found = 1;
		unlinkat(out_dir, e->d_name, 0);
	}
	closedir(d);
	if (found && must_be_empty)
		abort();	/* a failed session left a file behind */
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	static char dir[] = "/dev/shm/ferry-fuzz-stream.XXXXXX";
	static char alt[] = "/tmp/ferry-fuzz-stream.XXXXXX";
	(void)argc, (void)argv;
	const char *d = mkdtemp(dir) ? dir : mkdtemp(alt);
	if (!d || (out_dir = open(d, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		abort();
	log_set_console_level(-1);
	return 0;
}

/* Sends the frames the input describes into fd; returns the input bytes used. */
static size_t write_frames(int fd, int sealed, const uint8_t *d, size_t n)
{
	struct conn w;
	size_t used = 0;
	conn_init(&w, fd, "fuzz sender");
	w.is_file = 1;
	if (sealed && seal_new(key, 1, &w.tx_seal, NULL) < 0)
		abort();
	while (n - used >= 4) {
		uint8_t type = d[used], file = d[used + 1];
		size_t len = d[used + 2] | (size_t)d[used + 3] << 8;
		used += 4;
		if (len > n - used)
			len = n - used;
		if (conn_send(&w, type, file, d + used, len, NULL) < 0)
			break;
		used += len;
	}
	w.fd = -1;
	conn_close(&w);
	return used;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ferry_err err = { 0 };
	struct conn r;
	if (size < 1)
		return 0;
	int sealed = data[0] & 1, flip = (data[0] & 2) && size >= 4;
	size_t body = flip ? size - 4 : size - 1;
	int fd = memfd_create("stream", MFD_CLOEXEC);
	if (fd < 0)
		abort();
	write_frames(fd, sealed, data + 1, body);
	off_t total = lseek(fd, 0, SEEK_END), at = -1;
	if (flip && total > 0) {
		uint8_t b, mask = data[size - 1] | 1;
		at = (data[size - 3] | (off_t)data[size - 2] << 8) % total;
		if (pread(fd, &b, 1, at) != 1 || (b ^= mask, pwrite(fd, &b, 1, at)) != 1)
			abort();
	}
	lseek(fd, 0, SEEK_SET);
	conn_init(&r, fd, "fuzz receiver");
	r.is_file = 1;
	r.rx_max = 0;
	if (sealed && seal_new(key, 0, &r.rx_seal, NULL) < 0)
		abort();
	int rc = rx_stream(&r, out_dir, &err);
	if (rc == 0 && sealed && at >= 0 && (uint64_t)at < r.rx_off)
		abort();	/* a byte changed in a sealed stream, read, and still stored */
	conn_close(&r);
	empty_dir(rc != 0);
	return 0;
}
