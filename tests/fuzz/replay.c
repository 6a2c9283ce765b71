/* Runs inputs through a fuzz target without libFuzzer: each argument is a
 * file, or a directory whose files are all run. meson test replays the
 * corpora this way with any compiler; a crash or a violated invariant
 * aborts, which fails the test. */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "fuzz.h"

static int run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    uint8_t *data = NULL;
    size_t len = 0, cap = 0, n;
    if (!f) {
        perror(path);
        return 1;
    }
    do {
        if (len == cap && !(data = realloc(data, cap = cap ? cap * 2 : 4096))) {
            fclose(f);
            return 1;
        }
        n = fread(data + len, 1, cap - len, f);
        len += n;
    } while (n);
    fclose(f);
    LLVMFuzzerTestOneInput(data, len);
    free(data);
    return 0;
}

static int run_dir(const char *dir, int *count)
{
    DIR *d = opendir(dir);
    struct dirent *e;
    char path[4096];
    int rc = 0;
    if (!d) {
        perror(dir);
        return 1;
    }
    while (rc == 0 && (e = readdir(d))) {
        if (e->d_name[0] == '.')
            continue;
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        rc = run_file(path);
        ++*count;
    }
    closedir(d);
    return rc;
}

int main(int argc, char **argv)
{
    int count = 0, rc = 0;
    for (int i = 1; rc == 0 && i < argc; i++) {
        struct stat st;
        if (stat(argv[i], &st) != 0) {
            perror(argv[i]);
            return 1;
        }
        if (S_ISDIR(st.st_mode)) {
            rc = run_dir(argv[i], &count);
        } else {
            rc = run_file(argv[i]);
            count++;
        }
    }
    if (rc == 0 && count == 0) {
        fprintf(stderr, "no inputs\n");
        return 1;
    }
    if (rc == 0)
        printf("%d inputs\n", count);
    return rc;
}
