/* SPDX-License-Identifier: Apache-2.0 */
/* inject/syscall.c: where the `syscall` instruction injected with is taken from. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>
#include "inject/syscall.h"

/* A page of ours with `0f 05` at off, left with protection prot. */
static uint8_t *page_with_syscall(size_t off, int prot)
{
	uint8_t *p = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	assert_true(p != MAP_FAILED);
	p[off] = 0x0f;
	p[off + 1] = 0x05;
	assert_int_equal(mprotect(p, 4096, prot), 0);
	return p;
}

static void line(char *maps, size_t size, const uint8_t *p, const char *perms, const char *name)
{
	size_t l = strlen(maps);
	snprintf(maps + l, size - l, "%lx-%lx %s 00000000 00:00 0 %s\n", (unsigned long)p, (unsigned long)p + 4096,
		 perms, name);
}

static void test_order(void **state)
{
	uint8_t *jit = page_with_syscall(100, PROT_READ | PROT_WRITE | PROT_EXEC);
	uint8_t *code = page_with_syscall(200, PROT_READ | PROT_EXEC);
	uint8_t *vdso = page_with_syscall(300, PROT_READ | PROT_EXEC);
	char maps[1024] = "";
	uint64_t at = 0;
	/* A writable executable mapping comes first in the list, yet a read-only one is taken. */
	line(maps, sizeof(maps), jit, "rwxp", "");
	line(maps, sizeof(maps), code, "r-xp", "/usr/lib/libx.so");
	assert_int_equal(find_syscall_in_maps(getpid(), maps, &at), 0);
	assert_int_equal(at, (uint64_t)(uintptr_t)code + 200);
	/* The vdso before anything else, wherever it is listed. */
	line(maps, sizeof(maps), vdso, "r-xp", "[vdso]");
	assert_int_equal(find_syscall_in_maps(getpid(), maps, &at), 0);
	assert_int_equal(at, (uint64_t)(uintptr_t)vdso + 300);
	/* Only writable executable memory: that, rather than nothing. */
	maps[0] = 0;
	line(maps, sizeof(maps), jit, "rwxp", "");
	assert_int_equal(find_syscall_in_maps(getpid(), maps, &at), 0);
	assert_int_equal(at, (uint64_t)(uintptr_t)jit + 100);
	/* Nothing executable (or only [vsyscall], which cannot be read): none. */
	maps[0] = 0;
	line(maps, sizeof(maps), code, "r--p", "/usr/lib/libx.so");
	line(maps, sizeof(maps), vdso, "--xp", "[vsyscall]");
	assert_int_equal(find_syscall_in_maps(getpid(), maps, &at), -ENOENT);
	munmap(jit, 4096);
	munmap(code, 4096);
	munmap(vdso, 4096);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_order),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
