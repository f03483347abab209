/*
 * replay_main.c - runs a fuzz target's entry point over files, without
 * libFuzzer, so the committed corpora are replayed by every `make test`
 * (ctest fuzz_replay) in the normal gcc build and in the sanitizer build.
 *
 *	fuzz_replay_decode FILE|DIR ...
 *
 * Each regular file (directories are read one level deep, in name order)
 * is read whole and passed to LLVMFuzzerTestOneInput once, as libFuzzer
 * would. A crash, an abort from a target's property check, or a
 * sanitizer report fails the run; otherwise it prints how many inputs ran
 * and exits 0. No inputs at all is an error: an empty corpus proves
 * nothing.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "core/banned.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* optional in a target, as in libFuzzer */
__attribute__((weak)) int LLVMFuzzerInitialize(int *argc, char ***argv);

static int run_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = NULL;
	size_t len = 0, cap = 0, n;

	if (!f) {
		perror(path);
		return -1;
	}
	do {
		if (len == cap) {
			cap = cap ? cap * 2 : 4096;
			data = realloc(data, cap);
			if (!data)
				abort();
		}
		n = fread(data + len, 1, cap - len, f);
		len += n;
	} while (n);
	if (ferror(f)) {
		perror(path);
		fclose(f);
		free(data);
		return -1;
	}
	fclose(f);
	/* an exact-size copy, so ASan sees reads past the input's end */
	{
		uint8_t *exact = malloc(len ? len : 1);
		if (!exact)
			abort();
		memcpy(exact, data, len);
		free(data);
		LLVMFuzzerTestOneInput(exact, len);
		free(exact);
	}
	return 0;
}

static int by_name(const struct dirent **a, const struct dirent **b)
{
	return strcmp((*a)->d_name, (*b)->d_name);
}

int main(int argc, char **argv)
{
	long ran = 0;
	int failed = 0;

	if (argc < 2) {
		fprintf(stderr, "usage: %s FILE|DIR ...\n", argv[0]);
		return 2;
	}
	if (LLVMFuzzerInitialize)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++) {
		struct stat st;
		struct dirent **ents;
		int n;

		if (stat(argv[i], &st)) {
			perror(argv[i]);
			failed = 1;
			continue;
		}
		if (!S_ISDIR(st.st_mode)) {
			failed |= run_file(argv[i]) != 0;
			ran++;
			continue;
		}
		n = scandir(argv[i], &ents, NULL, by_name);
		if (n < 0) {
			perror(argv[i]);
			failed = 1;
			continue;
		}
		for (int k = 0; k < n; k++) {
			char p[4096];
			snprintf(p, sizeof(p), "%s/%s", argv[i], ents[k]->d_name);
			if (!stat(p, &st) && S_ISREG(st.st_mode)) {
				failed |= run_file(p) != 0;
				ran++;
			}
			free(ents[k]);
		}
		free(ents);
	}
	printf("%s: %ld inputs replayed\n", argv[0], ran);
	if (!ran) {
		fprintf(stderr, "%s: no inputs found\n", argv[0]);
		return 1;
	}
	return failed;
}
