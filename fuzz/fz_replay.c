/*
 * fuzz/fz_replay.c - main() for a plain (non-libFuzzer) build of fuzz_map.c:
 * replays the files given as arguments (or every file of the directories
 * given), for valgrind and for debugging a finding with gdb. Prints one line
 * per input and "replayed N inputs" at the end; a failed check aborts.
 */
#include <dirent.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (!f) {
		perror(path);
		return 1;
	}
	static uint8_t buf[1 << 20];
	size_t n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, n);
	return 0;
}

int main(int argc, char **argv)
{
	LLVMFuzzerInitialize(&argc, &argv);
	int n = 0, err = 0;
	for (int i = 1; i < argc; i++) {
		struct stat st;
		if (stat(argv[i], &st) == 0 && S_ISDIR(st.st_mode)) {
			DIR *d = opendir(argv[i]);
			struct dirent *e;
			while (d && (e = readdir(d)) != NULL) {
				if (e->d_name[0] == '.')
					continue;
				char p[4096];
				snprintf(p, sizeof(p), "%s/%s", argv[i], e->d_name);
				err |= replay_file(p);
				n++;
			}
			if (d)
				closedir(d);
		} else {
			err |= replay_file(argv[i]);
			n++;
		}
	}
	printf("replayed %d inputs\n", n);
	return err;
}
